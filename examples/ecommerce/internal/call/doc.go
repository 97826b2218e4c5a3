// Package call is how one shop service calls another: a [Client] sends one
// operation (method and path) through the library's whole client chain
// (package client), with a [Request] carrying the path parameters, headers
// and JSON body, and [JSON] decodes the answer.
package call

// Package shopcli describes the ecommerce command and the calls between the
// shop's services to tools outside the example, such as the tests of the
// Kubernetes manifests in deploy/kubernetes (a module of its own, which
// cannot import the example's internal packages).
//
// [Parse] reads a "serve" command line with the flag sets and checks the
// binary itself uses; [Callers] lists, for each service, the services
// whose calls its access policy admits.
package shopcli

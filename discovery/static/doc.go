// Package static is a discovery.Resolver over a fixed list of instances,
// for configuration files, command-line flags and tests. Its watches
// deliver one update and never change.
package static

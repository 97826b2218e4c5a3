// Package kubernetes holds the tests of the shop's Kubernetes manifests
// (base/ and overlays/ beside this file). It is a module of its own so that
// the library's users never download the Kubernetes API types or kustomize:
// the tests render each overlay with kustomize, decode every object
// strictly into the k8s.io/api types, and check the manifests against the
// shop's own code through github.com/switchyard/switchyard/examples/ecommerce/shopcli.
package kubernetes

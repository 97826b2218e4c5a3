// Package registry connects a process to the shop's registry. [Connect]
// takes the --registry URL: etcd://host:port[,host:port…] gives one etcd
// client shared by a registrar (for the process's own instances) and a
// resolver (for the services it calls), over mutual TLS when given a TLS
// configuration ([WithTLS]); dns+srv:// and dns:// give a resolver over the
// DNS names Kubernetes publishes for headless Services, and a registrar
// that leaves registration to the platform.
package registry

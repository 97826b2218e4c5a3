package etcd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// A service registers itself; a client watches the service and sees it
// come and go. The embedded server stands in for an etcd cluster.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "etcd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(ctx, dir, "127.0.0.1:0", embedded.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// The service's side.
	svcClient, err := etcd.NewClient(srv.Endpoints()...)
	if err != nil {
		log.Fatal(err)
	}
	defer svcClient.Close()
	reg, err := etcd.NewRegistrar(svcClient, etcd.RegistrarConfig{TTL: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	me := discovery.Instance{ID: "catalog-1", Service: "catalog", Addr: "127.0.0.1:8081"}
	if err := reg.Register(ctx, me); err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered; ready:", reg.RegistrationErr() == nil)

	// The client's side.
	cliClient, err := etcd.NewClient(srv.Endpoints()...)
	if err != nil {
		log.Fatal(err)
	}
	defer cliClient.Close()
	res, err := etcd.NewResolver(cliClient, etcd.ResolverConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer res.Close()
	w, err := res.Watch(ctx, "catalog")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()
	u := <-w.Updates()
	fmt.Println("watcher sees:", u.Instances[0].ID, u.Instances[0].Addr)

	if err := reg.Close(ctx); err != nil { // deregisters
		log.Fatal(err)
	}
	u = <-w.Updates()
	fmt.Println("after deregistration:", len(u.Instances), "instances")
	// Output:
	// registered; ready: true
	// watcher sees: catalog-1 127.0.0.1:8081
	// after deregistration: 0 instances
}

// The key layout: one key per instance, holding the instance as JSON.
func ExampleEncode() {
	in := discovery.Instance{ID: "catalog-1", Service: "catalog", Addr: "10.0.0.7:8080", Weight: 2}
	v, err := etcd.Encode(in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(etcd.Key(etcd.DefaultPrefix, in))
	fmt.Println(string(v))
	// Output:
	// /switchyard/services/catalog/catalog-1
	// {"id":"catalog-1","service":"catalog","addr":"10.0.0.7:8080","weight":2}
}

// Connect to an etcd cluster that requires client certificates, with the
// files a PKI (cert-manager, Vault, a company CA) issued to the service.
func ExampleNewClientTLS() {
	cert, err := tls.LoadX509KeyPair("/etc/pki/catalog.crt", "/etc/pki/catalog.key")
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile("/etc/pki/etcd-ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		log.Fatal("no CA certificate in etcd-ca.pem")
	}
	cli, err := etcd.NewClientTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS13,
	}, "etcd-0.etcd:2379", "etcd-1.etcd:2379", "etcd-2.etcd:2379")
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	reg, err := etcd.NewRegistrar(cli, etcd.RegistrarConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close(context.Background())
	// Register the service's instances with reg…
}

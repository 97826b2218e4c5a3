package embedded_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// Run a throwaway etcd for a test or a development session.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "registry")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := embedded.Start(ctx, dir, "127.0.0.1:0", embedded.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "greeting", "hello"); err != nil {
		log.Fatal(err)
	}
	resp, err := cli.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp.Kvs[0].Value))
	// Output: hello
}

// Run the registry with client-certificate authentication. The server's
// certificate and key may share one file; a renewed file is served from
// the next connection on.
func ExampleStart_tls() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, "/var/lib/registry", "10.0.0.5:2379", embedded.Config{
		TLS: &embedded.TLSFiles{
			CertFile: "/etc/pki/registry.pem",
			KeyFile:  "/etc/pki/registry.pem",
			CAFile:   "/etc/pki/ca.pem",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fmt.Println(srv.Endpoints()) // [https://10.0.0.5:2379]: give them to etcd.NewClientTLS
}

// Run one member of a three-member cluster; the other two run the same
// code with their own Name (and addresses) on their machines, started at
// about the same time. A fourth member added later with "etcdctl member
// add d --peer-urls=https://10.0.0.4:2380" starts with InitialCluster
// listing all four and InitialClusterState StateExisting.
func ExampleStart_cluster() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, "/var/lib/registry", "10.0.0.1:2379", embedded.Config{
		Name:           "a",
		InitialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380",
		// The same certificate serves clients and peers, and is presented
		// to the other members: it needs both the server and the client
		// key usage, and the member's IP address among its names.
		TLS: &embedded.TLSFiles{
			CertFile: "/etc/pki/registry.pem",
			KeyFile:  "/etc/pki/registry.pem",
			CAFile:   "/etc/pki/ca.pem",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fmt.Println(srv.PeerURL()) // https://10.0.0.1:2380
}

package dns_test

import (
	"context"
	"fmt"
	"log"

	"github.com/switchyard/switchyard/discovery/dns"
)

// Follow a Kubernetes headless Service through its SRV records. Outside a
// cluster, point Config.Server at a DNS server that holds such records; here
// the in-process test server stands in for CoreDNS.
func ExampleNew() {
	coreDNS := startExampleServer(
		"_http._tcp.catalog.shop.svc.cluster.local. 5 IN SRV 0 50 8080 10-244-1-7.catalog.shop.svc.cluster.local.",
		"_http._tcp.catalog.shop.svc.cluster.local. 5 IN SRV 0 50 8080 10-244-2-9.catalog.shop.svc.cluster.local.",
		"10-244-1-7.catalog.shop.svc.cluster.local. 5 IN A 10.244.1.7",
		"10-244-2-9.catalog.shop.svc.cluster.local. 5 IN A 10.244.2.9",
	)
	defer coreDNS.stop()

	r, err := dns.New(dns.Config{
		Server: coreDNS.addr,                          // in a pod: leave out, /etc/resolv.conf is used
		Name:   dns.KubernetesSRV("http", "shop", ""), // catalog → _http._tcp.catalog.shop.svc.cluster.local.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	w, err := r.Watch(context.Background(), "catalog")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()
	u := <-w.Updates()
	for _, in := range u.Instances {
		fmt.Println(in.Service, in.Addr, "weight", in.Weight)
	}
	// Output:
	// catalog 10.244.1.7:8080 weight 50
	// catalog 10.244.2.9:8080 weight 50
}

// Resolve A/AAAA records and use a fixed port.
func ExampleNew_host() {
	ns := startExampleServer("catalog.shop.svc.cluster.local. 5 IN A 10.244.1.7")
	defer ns.stop()
	r, err := dns.New(dns.Config{Port: 8080, Server: ns.addr, Name: dns.KubernetesHost("shop", "")})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	w, err := r.Watch(context.Background(), "catalog")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()
	fmt.Println((<-w.Updates()).Instances[0].Addr)
	// Output: 10.244.1.7:8080
}

package mtls_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// A users server that admits only workloads of the shop's CA and knows
// who called, an orders client that talks only to users, and an impostor
// that holds a valid certificate of the shop — for catalog — and is
// refused before it sees a request. The certificates come from a
// throwaway CA; in production they are files written by the shop's CA,
// cert-manager or a SPIFFE agent.
func Example() {
	dir, err := os.MkdirTemp("", "mtls-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ca := mtlstest.NewCA("shop CA")
	bundle := filepath.Join(dir, "bundle.pem")
	mtlstest.WriteFile(bundle, ca.PEM)
	source := func(service string) *mtls.Source {
		id, _ := identity.ForService("shop.internal", service)
		file := filepath.Join(dir, service+".pem") // chain and key in one file
		ca.Issue(id).Write(file, file)
		src, err := mtls.New(mtls.Config{CertFile: file, KeyFile: file, CAFile: bundle})
		if err != nil {
			log.Fatal(err)
		}
		return src
	}
	users, orders, catalog := source("users"), source("orders"), source("catalog")

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := identity.FromRequest(r)
		fmt.Fprintf(w, "hello %s", caller)
	})
	var servers []*http.Server
	defer func() {
		for _, srv := range servers {
			srv.Shutdown(context.Background())
		}
	}()
	serve := func(src *mtls.Source) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv := &http.Server{Handler: hello, TLSConfig: src.ServerConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
		go srv.ServeTLS(ln, "", "")
		servers = append(servers, srv)
		return "https://" + ln.Addr().String()
	}
	usersURL, impostorURL := serve(users), serve(catalog)

	// orders calls users: one transport per service it calls, expecting
	// that service's ID.
	usersID, _ := orders.ServiceID("users")
	tr := &http.Transport{TLSClientConfig: orders.ClientConfig(usersID)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	resp, err := client.Get(usersURL + "/v1/users/42")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("users:", string(body))

	// The registry says users lives at the impostor's address.
	_, err = client.Get(impostorURL + "/v1/users/42")
	fmt.Println("impostor refused:", errors.Is(err, mtls.ErrPeer))
	// Output:
	// users: hello spiffe://shop.internal/orders
	// impostor refused: true
}

package dns_test

import (
	"testing"

	"github.com/switchyard/switchyard/discovery/dns/dnstest"
)

// Failure modes of the test server.
const (
	serve    = dnstest.Serve
	servfail = dnstest.ServFail
	refuse   = dnstest.Refuse
	drop     = dnstest.Drop
	truncate = dnstest.Truncate
)

// server is the in-process DNS server of dnstest, with the address at hand.
type server struct {
	*dnstest.Server
	addr string
}

func startServer(t *testing.T) *server {
	t.Helper()
	s := dnstest.Start(t)
	return &server{Server: s, addr: s.Addr()}
}

// startExampleServer serves rrs for an example; it panics on failure.
func startExampleServer(rrs ...string) *server {
	s, err := dnstest.NewServer()
	if err != nil {
		panic(err)
	}
	if err := s.Set(rrs...); err != nil {
		panic(err)
	}
	return &server{Server: s, addr: s.Addr()}
}

func (s *server) stop() { s.Close() }

// set replaces every record with rrs, given in zone-file syntax.
func (s *server) set(t *testing.T, rrs ...string) {
	t.Helper()
	if err := s.Set(rrs...); err != nil {
		t.Fatal(err)
	}
}

func (s *server) setMode(m dnstest.Mode) { s.SetMode(m) }

func (s *server) setNoExtra(v bool) { s.SetNoExtra(v) }

package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Failure modes of the test server.
const (
	serve    = iota
	servfail // answer SERVFAIL
	refuse   // answer REFUSED
	drop     // never answer: the client times out
	truncate // answer UDP queries with TC set and no records
)

// server is an in-process DNS server on 127.0.0.1 (UDP and TCP on the same
// port) answering from records the test sets.
type server struct {
	addr     string
	udp, tcp *mdns.Server

	mu      sync.Mutex // guards records, mode and noExtra
	records map[string][]mdns.RR
	mode    int
	noExtra bool // leave SRV targets' addresses out of the additional section

	queries    atomic.Int64
	tcpQueries atomic.Int64
}

func startServer(t *testing.T) *server {
	t.Helper()
	s, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// startExampleServer serves rrs for an example; it panics on failure.
func startExampleServer(rrs ...string) *server {
	s, err := newServer()
	if err != nil {
		panic(err)
	}
	if err := s.load(rrs...); err != nil {
		panic(err)
	}
	return s
}

func newServer() (*server, error) {
	s := &server{records: make(map[string][]mdns.RR)}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		return nil, errors.New("no port free for both UDP and TCP")
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &mdns.Server{PacketConn: pc, Handler: s}
	s.tcp = &mdns.Server{Listener: ln, Handler: s}
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	return s, nil
}

func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.udp.ShutdownContext(ctx)
	_ = s.tcp.ShutdownContext(ctx)
}

// set replaces every record with rrs, given in zone-file syntax.
func (s *server) set(t *testing.T, rrs ...string) {
	t.Helper()
	if err := s.load(rrs...); err != nil {
		t.Fatal(err)
	}
}

func (s *server) load(rrs ...string) error {
	recs := make(map[string][]mdns.RR)
	for _, line := range rrs {
		rr, err := mdns.NewRR(line)
		if err != nil {
			return fmt.Errorf("record %q: %w", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		recs[name] = append(recs[name], rr)
	}
	s.mu.Lock()
	s.records = recs
	s.mu.Unlock()
	return nil
}

func (s *server) setMode(m int) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

func (s *server) setNoExtra(v bool) {
	s.mu.Lock()
	s.noExtra = v
	s.mu.Unlock()
}

func (s *server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	s.queries.Add(1)
	_, overTCP := w.LocalAddr().(*net.TCPAddr)
	if overTCP {
		s.tcpQueries.Add(1)
	}
	s.mu.Lock()
	mode, noExtra := s.mode, s.noExtra
	records := s.records
	s.mu.Unlock()
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch mode {
	case drop:
		return
	case servfail:
		m.Rcode = mdns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case refuse:
		m.Rcode = mdns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	rrs, ok := records[strings.ToLower(q.Name)]
	if !ok {
		m.Rcode = mdns.RcodeNameError
		_ = w.WriteMsg(m)
		return
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
		if c, ok := rr.(*mdns.CNAME); ok {
			m.Answer = append(m.Answer, rr)
			for _, target := range records[strings.ToLower(c.Target)] {
				if target.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, target)
				}
			}
		}
		if srv, ok := rr.(*mdns.SRV); ok && q.Qtype == mdns.TypeSRV && !noExtra {
			for _, extra := range records[strings.ToLower(srv.Target)] {
				if t := extra.Header().Rrtype; t == mdns.TypeA || t == mdns.TypeAAAA {
					m.Extra = append(m.Extra, extra)
				}
			}
		}
	}
	if mode == truncate && !overTCP {
		m.Answer, m.Extra = nil, nil
		m.Truncated = true
	}
	_ = w.WriteMsg(m)
}

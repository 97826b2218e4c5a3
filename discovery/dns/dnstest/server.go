package dnstest

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

// Mode is how a [Server] answers.
type Mode int

// Modes of a [Server].
const (
	Serve    Mode = iota // answer from the records (the default)
	ServFail             // answer SERVFAIL
	Refuse               // answer REFUSED
	Drop                 // never answer: the client times out
	Truncate             // answer UDP queries with TC set and no records
)

// Server is a DNS server on 127.0.0.1 (UDP and TCP on the same port)
// answering from the records set with [Server.Set]. A name it holds no
// record of is NXDOMAIN; a question of a type the name has no record of is
// an empty answer. A CNAME is followed within the records, and an SRV
// answer carries its targets' A/AAAA records in the additional section
// (as CoreDNS does) unless [Server.SetNoExtra] says otherwise. Its methods
// are safe for concurrent use.
type Server struct {
	addr     string
	udp, tcp *mdns.Server

	mu      sync.Mutex // guards records, mode and noExtra
	records map[string][]mdns.RR
	mode    Mode
	noExtra bool

	queries    atomic.Int64
	tcpQueries atomic.Int64
}

// Start starts a Server that tb's cleanup stops, and fails tb if it cannot.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := NewServer()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a Server with no records; Close stops it.
func NewServer() (*Server, error) {
	s := &Server{records: make(map[string][]mdns.RR)}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dnstest: %w", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		return nil, errors.New("dnstest: no port free for both UDP and TCP")
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

// Addr returns the server's address, 127.0.0.1:port, for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.udp.ShutdownContext(ctx)
	_ = s.tcp.ShutdownContext(ctx)
}

// Set replaces every record with rrs, each in zone-file syntax
// ("_http._tcp.catalog.test. 30 IN SRV 0 10 8080 a.test."). It returns an
// error naming the first record that does not parse, and then changes
// nothing.
func (s *Server) Set(rrs ...string) error {
	recs := make(map[string][]mdns.RR)
	for _, line := range rrs {
		rr, err := mdns.NewRR(line)
		if err != nil {
			return fmt.Errorf("dnstest: record %q: %w", line, err)
		}
		if rr == nil {
			return fmt.Errorf("dnstest: record %q is empty", line)
		}
		name := strings.ToLower(rr.Header().Name)
		recs[name] = append(recs[name], rr)
	}
	s.mu.Lock()
	s.records = recs
	s.mu.Unlock()
	return nil
}

// SetMode changes how the server answers from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetNoExtra leaves SRV targets' addresses out of the additional section
// when v is true, so that clients must query them.
func (s *Server) SetNoExtra(v bool) {
	s.mu.Lock()
	s.noExtra = v
	s.mu.Unlock()
}

// Queries returns the number of queries received, over UDP and TCP.
func (s *Server) Queries() int64 { return s.queries.Load() }

// TCPQueries returns the number of queries received over TCP.
func (s *Server) TCPQueries() int64 { return s.tcpQueries.Load() }

// ServeDNS answers one query; it implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
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
	case Drop:
		return
	case ServFail:
		m.Rcode = mdns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case Refuse:
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
	if mode == Truncate && !overTCP {
		m.Answer, m.Extra = nil, nil
		m.Truncated = true
	}
	_ = w.WriteMsg(m)
}

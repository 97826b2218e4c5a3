package mtls_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// TestRotationUnderLoad rotates the leaves of a server (users, chain and
// key in one file) and of its client (orders, two files) three times,
// then rotates the CA — bundle old+new, leaves from the new CA, bundle new
// only — while clients keep sending requests, on kept-alive connections
// (closed from time to time) and on fresh ones. Not one request fails,
// and at the end both sides use the certificates of the new CA.
//
// The check interval is short and the clock real: this test is about
// real handshakes racing real file replacements. It waits for each step
// by making requests until both sides show the step's effect, bounded,
// and asserts no timing.
func TestRotationUnderLoad(t *testing.T) {
	users, orders := svcID(t, "users"), svcID(t, "orders")
	oldCA := mtlstest.NewCA("shop CA 1")

	var serverReloads, clientReloads atomic.Int64
	hooks := func(n *atomic.Int64) mtls.Hooks {
		return mtls.Hooks{OnReload: func(identity.ID, time.Time) { n.Add(1) }}
	}
	sf := writeFiles(t, oldCA.Issue(users), oldCA.PEM, true)
	cf := writeFiles(t, oldCA.Issue(orders), oldCA.PEM, false)
	srvSrc := newSource(t, sf, mtls.Config{CheckInterval: 5 * time.Millisecond, Hooks: hooks(&serverReloads)})
	cliSrc := newSource(t, cf, mtls.Config{CheckInterval: 5 * time.Millisecond, Hooks: hooks(&clientReloads)})
	srv := serve(t, srvSrc.ServerConfig())

	// The load: two clients on kept-alive connections, whose idle
	// connections are closed every few requests, and two that shake hands
	// for every request.
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		done     atomic.Int64
		failed   atomic.Int64
		errMu    sync.Mutex // guards firstErr
		firstErr error
	)
	for i := range 4 {
		fresh := i%2 == 1
		tr := &http.Transport{TLSClientConfig: cliSrc.ClientConfig(users), DisableKeepAlives: fresh, MaxIdleConnsPerHost: 4}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(c, srv.URL); err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
				done.Add(1)
				if n%7 == 6 {
					tr.CloseIdleConnections()
				}
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	probe := newClient(t, cliSrc.ClientConfig(users), true)
	// waitFor makes requests on fresh connections — each a handshake on
	// both sides, which is what makes the sources look at their files —
	// until ok holds of an answer and the load has gone on for twenty more
	// requests, so that every step happens under load.
	waitFor := func(step string, ok func(answer) bool) answer {
		t.Helper()
		from := done.Load()
		deadline := time.Now().Add(20 * time.Second)
		for {
			a, err := get(probe, srv.URL)
			if err != nil {
				t.Fatalf("%s: probe: %v", step, err)
			}
			if ok(a) && done.Load() >= from+20 {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not done after 20 s; last answer %+v", step, a)
			}
		}
	}
	serials := func(server, client *mtlstest.Leaf) func(answer) bool {
		return func(a answer) bool {
			return a.ServerSerial == server.Cert.SerialNumber.String() && a.Serial == client.Cert.SerialNumber.String()
		}
	}
	reloaded := func(s, c int64) func(answer) bool {
		return func(answer) bool { return serverReloads.Load() > s && clientReloads.Load() > c }
	}

	for i := range 3 {
		sl, cl := oldCA.Issue(users), oldCA.Issue(orders)
		sl.Write(sf.cert, sf.key)
		cl.Write(cf.cert, cf.key)
		waitFor(fmt.Sprintf("leaf rotation %d", i+1), serials(sl, cl))
	}

	newCA := mtlstest.NewCA("shop CA 2")
	s, c := serverReloads.Load(), clientReloads.Load()
	mtlstest.WriteFile(sf.ca, mtlstest.Bundle(oldCA, newCA))
	mtlstest.WriteFile(cf.ca, mtlstest.Bundle(oldCA, newCA))
	waitFor("bundle old+new", reloaded(s, c))

	sl, cl := newCA.Issue(users), newCA.Issue(orders)
	sl.Write(sf.cert, sf.key)
	cl.Write(cf.cert, cf.key)
	waitFor("leaves from the new CA", serials(sl, cl))

	s, c = serverReloads.Load(), clientReloads.Load()
	mtlstest.WriteFile(sf.ca, newCA.PEM)
	mtlstest.WriteFile(cf.ca, newCA.PEM)
	waitFor("bundle new only", reloaded(s, c))
	a := waitFor("after the rotation", serials(sl, cl))
	stopLoad()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed under rotation; first: %v", n, done.Load(), firstErr)
	}
	if a.ID != orders.String() {
		t.Errorf("the server saw %s", a.ID)
	}
	if got := srvSrc.Certificate().Leaf; got.SerialNumber.Cmp(sl.Cert.SerialNumber) != 0 || !got.NotAfter.Equal(sl.Cert.NotAfter) {
		t.Error("the server source does not hold the new CA's leaf")
	}
	// The old CA is gone from both bundles: a client of the old CA is
	// refused, and so is a server.
	if _, err := get(newClient(t, presenting(newCA, oldCA.Issue(orders)), true), srv.URL); err == nil {
		t.Error("a client of the removed CA got through")
	}
	stale := serve(t, workload(t, oldCA, users, nil, mtls.Config{}).ServerConfig())
	if _, err := get(probe, stale.URL); !errors.Is(err, mtls.ErrPeer) {
		t.Errorf("a server of the removed CA: %v, want ErrPeer", err)
	}
	t.Logf("%d requests under rotation, 0 failed", done.Load())
}

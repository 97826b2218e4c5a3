package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/mtls"
)

// The scenarios here ask whose fault a failure is: a client's broken
// request must never count against an instance, and a replica that hangs
// (SIGSTOP: its port still accepts connections) or answers 500 to
// everything must be invisible to idempotent readers.

// instanceHealth is what the gateway's dashboard says of one instance.
type instanceHealth struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Ejected  bool   `json:"ejected"`
	Breaker  string `json:"breaker"`
	Failures int64  `json:"failures"`
}

// health returns the dashboard's view of every instance, by ID.
func (w *world) health(ctx context.Context, t *testing.T) map[string]instanceHealth {
	t.Helper()
	var st struct {
		Services []struct {
			Service   string           `json:"service"`
			Instances []instanceHealth `json:"instances"`
		} `json:"services"`
	}
	w.c.expect(ctx, t, http.StatusOK, "GET", "/admin/api/state", w.admin.token, nil).decode(t, &st)
	out := map[string]instanceHealth{}
	for _, s := range st.Services {
		for _, in := range s.Instances {
			out[s.Service+"/"+in.ID] = in
		}
	}
	return out
}

// rawSend writes raw to the gateway on a connection of its own. Unless
// abandon is set it half-closes the connection and returns the status of
// the answer (0 if none came); with abandon it closes the connection at
// once, as a client that hangs up mid-upload does.
func (w *world) rawSend(t *testing.T, raw string, abandon bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", w.shop.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil || abandon {
		return 0
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func rawChunked(path, token string, chunks ...string) string {
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\nIdempotency-Key: raw-" + fmt.Sprint(time.Now().UnixNano()) + "\r\n"
	}
	return "POST " + path + " HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n" + auth +
		"Transfer-Encoding: chunked\r\n\r\n" + strings.Join(chunks, "")
}

func rawLength(path, token string, length int, body string) string {
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\nIdempotency-Key: raw-" + fmt.Sprint(time.Now().UnixNano()) + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", path, auth, length, body)
}

// overLimit is a chunked body of a little more than the gateway's 1 MiB.
func overLimit() string {
	chunk := strings.Repeat("a", 64<<10)
	var b strings.Builder
	for range 17 {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	return b.String() + "0\r\n\r\n"
}

// testClientFaults sends logins and orders with broken chunked framing,
// truncated and oversized bodies, and uploads abandoned halfway, through
// raw sockets, then checks that no instance was blamed (failures,
// ejections, breakers as before) and that other users' logins and orders
// still work with no 5xx.
func testClientFaults(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	attacker := w.signUp(ctx, t, "breaker-of-bodies@example.com", "Mallory")
	innocent := w.signUp(ctx, t, "innocent@example.com", "Innocent")
	p := c.createProduct(ctx, t, w.admin, "Unbreakable teapot", 1500, 1000)
	before := w.health(ctx, t)

	big := overLimit()
	cases := []struct {
		name    string
		raw     string
		abandon bool
		want    int
	}{
		{"login, broken chunked framing", rawChunked("/api/v1/login", "", "5\r\n{\"ema\r\n", "zz\r\n"), false, http.StatusBadRequest},
		{"login, truncated body", rawLength("/api/v1/login", "", 200, `{"email":"innocent@example.com"`), false, http.StatusBadRequest},
		{"login, chunked body over 1 MiB", rawChunked("/api/v1/login", "", big), false, http.StatusRequestEntityTooLarge},
		{"login, abandoned upload", rawLength("/api/v1/login", "", 5000, `{"email":`), true, 0},
		{"orders, broken chunked framing", rawChunked("/api/v1/orders", attacker.token, "5\r\n{\"ite\r\n", "zz\r\n"), false, http.StatusBadRequest},
		{"orders, chunked body over 1 MiB", rawChunked("/api/v1/orders", attacker.token, big), false, http.StatusRequestEntityTooLarge},
		{"orders, abandoned upload", rawLength("/api/v1/orders", attacker.token, 5000, `{"items":[`), true, 0},
	}
	// Three rounds of 12 of each kind, paced under the per-IP login
	// limit (10/s) so that the broken logins reach the users service.
	for round := range 3 {
		for _, tc := range cases {
			for range 12 {
				got := w.rawSend(t, tc.raw, tc.abandon)
				// A half-closed connection can be taken for a hang-up
				// (net/http cancels the request when it reads EOF): 499,
				// still the client's side. Never a 5xx.
				if tc.want != 0 && got != tc.want && got != 499 {
					t.Fatalf("round %d, %s: answered %d, want %d", round, tc.name, got, tc.want)
				}
				if strings.HasPrefix(tc.name, "login") {
					time.Sleep(120 * time.Millisecond)
				}
			}
		}
	}
	// The gateway finishes abandoned requests in the background; give
	// their outcomes a moment to be recorded, then compare.
	time.Sleep(500 * time.Millisecond)
	after := w.health(ctx, t)
	for id, h := range after {
		b := before[id]
		if h.Failures != b.Failures || h.Ejected || h.Breaker != "closed" {
			t.Errorf("instance %s was blamed for the clients' faults: before %+v, after %+v", id, b, h)
		}
	}
	// Everybody else is served as if nothing happened.
	for i := range 10 {
		r := c.must(ctx, t, "POST", "/api/v1/login", "", map[string]string{"email": innocent.Email, "password": innocent.password})
		if r.status != http.StatusOK {
			t.Fatalf("login %d of another user after the attack: %s", i, r)
		}
		o := c.must(ctx, t, "POST", "/api/v1/orders", innocent.token, orderBody(p.ID, 1), "Idempotency-Key", fmt.Sprintf("after-attack-%d", i))
		if o.status != http.StatusCreated {
			t.Fatalf("order %d of another user after the attack: %s", i, o)
		}
	}
	c.checkStock(ctx, t, p.ID, 1000, innocent, attacker)
}

// readLoad runs readers that GET the product list and one product until
// stop is closed, and reports every read that failed or took longer than
// slow.
type readLoad struct {
	reads, failed, tooSlow atomic.Int64
	slowest                atomic.Int64 // nanoseconds
	mu                     sync.Mutex   // guards problems
	problems               []string
	stop                   chan struct{}
	wg                     sync.WaitGroup
}

func startReaders(ctx context.Context, c *client, n int, productID string, slow time.Duration) *readLoad {
	l := &readLoad{stop: make(chan struct{})}
	for i := range n {
		l.wg.Go(func() {
			paths := []string{"/api/v1/products?limit=20", "/api/v1/products/" + productID}
			for j := 0; ; j++ {
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				path := paths[(i+j)%len(paths)]
				began := time.Now()
				r, err := c.call(ctx, "GET", path, "", nil)
				took := time.Since(began)
				l.reads.Add(1)
				for {
					s := l.slowest.Load()
					if int64(took) <= s || l.slowest.CompareAndSwap(s, int64(took)) {
						break
					}
				}
				switch {
				case err != nil || r.status != http.StatusOK:
					l.failed.Add(1)
					l.problem(fmt.Sprintf("GET %s: %v %v after %v", path, r, err, took))
				case took > slow:
					l.tooSlow.Add(1)
					l.problem(fmt.Sprintf("GET %s took %v", path, took))
				}
			}
		})
	}
	return l
}

func (l *readLoad) problem(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, s)
	}
}

func (l *readLoad) finish(t *testing.T, what string) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%s: %d reads, %d failed, %d over the bound, slowest %v",
		what, l.reads.Load(), l.failed.Load(), l.tooSlow.Load(), time.Duration(l.slowest.Load()).Round(time.Millisecond))
	for _, p := range l.problems {
		t.Error(p)
	}
}

// testFrozenCatalogReplica freezes one catalog replica with SIGSTOP (its
// port still accepts connections; nothing answers) under read load
// through the gateway, and thaws it after: no read fails and none takes
// 2.5 s or more.
func testFrozenCatalogReplica(t *testing.T, w *world) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := w.c.createProduct(ctx, t, w.admin, "Frozen yoghurt", 400, 10)
	pids := w.shop.servicePIDs("catalog")
	if len(pids) != 2 {
		t.Fatalf("%d catalog processes, want 2", len(pids))
	}
	victim := pids[0]
	load := startReaders(ctx, w.c, 8, p.ID, 2500*time.Millisecond)
	time.Sleep(2 * time.Second) // the gateway learns the catalog's latency
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP catalog pid %d: %v", victim, err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := syscall.Kill(victim, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT catalog pid %d: %v", victim, err)
			}
		}
	}
	defer thaw()
	time.Sleep(5 * time.Second)
	thaw()
	time.Sleep(2 * time.Second)
	load.finish(t, fmt.Sprintf("catalog pid %d frozen for 5s", victim))
	if t.Failed() {
		for id, h := range w.health(ctx, t) {
			t.Logf("after: %s %+v", id, h)
		}
	}
}

// testSickCatalogInstance registers by hand, as an operator could, a
// catalog instance that answers 500 to everything, and reads through the
// gateway while it sits among the real replicas: no read fails. The
// instance holds a genuine catalog certificate of the shop's CA (the
// gateway would refuse any other at the handshake, which is another
// test's subject), so the gateway does send it requests and has to live
// with its answers.
func testSickCatalogInstance(t *testing.T, w *world) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := w.c.createProduct(ctx, t, w.admin, "Sick bag", 100, 10)
	files := w.shop.issue(t, "catalog")
	src, err := mtls.New(mtls.Config{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	sick := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		served.Add(1)
		http.Error(rw, `{"error":{"code":"internal","message":"always broken"}}`, http.StatusInternalServerError)
	}))
	sick.TLS = src.ServerConfig() // a client certificate of the shop's CA required
	sick.StartTLS()
	defer sick.Close()
	reg := w.shop.connectRegistry(ctx, t, src)
	inst := discovery.Instance{ID: "catalog-sick-by-hand", Service: "catalog", Addr: sick.Listener.Addr().String()}
	if err := reg.Registrar.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	defer reg.Registrar.Deregister(context.WithoutCancel(ctx), inst)
	for {
		if _, ok := w.health(ctx, t)["catalog/"+inst.ID]; ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the gateway never saw the hand-registered instance")
		case <-time.After(20 * time.Millisecond):
		}
	}
	load := startReaders(ctx, w.c, 8, p.ID, 2500*time.Millisecond)
	for load.reads.Load() < 400 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	load.finish(t, "a hand-registered catalog instance answering 500")
	t.Logf("the sick instance as the gateway sees it: %+v; it served %d requests", w.health(ctx, t)["catalog/"+inst.ID], served.Load())
	if served.Load() == 0 {
		t.Error("the gateway sent the sick instance no request: the scenario did not take place")
	}
}

// testFrozenUsersReplica freezes one users replica with SIGSTOP while
// orders are placed (the orders service looks each buyer up in users) and
// thaws it after: every order key gets its order; none fails beyond the
// answers the client itself retries with the same key.
func testFrozenUsersReplica(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const initial = 100000
	p := c.createProduct(ctx, t, w.admin, "Cold-storage crate", 700, initial)
	u := w.signUp(ctx, t, "frozen-users@example.com", "Frosty")
	pids := w.shop.servicePIDs("users")
	if len(pids) != 2 {
		t.Fatalf("%d users processes, want 2", len(pids))
	}
	victim := pids[0]
	var (
		mu       sync.Mutex // guards statuses, failures
		statuses = map[string]int{}
		failures []string
		placed   atomic.Int64
	)
	seen := func(status int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			statuses["transport error"]++
		} else {
			statuses[fmt.Sprint(status)]++
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for wk := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("frozen-users-%d-%d", wk, i)
				r, _, err := placeUntilFinal(ctx, c, u.token, key, orderBody(p.ID, 1), seen)
				if err == nil && r.status != http.StatusCreated {
					err = fmt.Errorf("key %s: final answer %s, want 201", key, r)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				placed.Add(1)
			}
		})
	}
	time.Sleep(2 * time.Second)
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP users pid %d: %v", victim, err)
	}
	time.Sleep(5 * time.Second)
	if err := syscall.Kill(victim, syscall.SIGCONT); err != nil {
		t.Errorf("SIGCONT users pid %d: %v", victim, err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("users pid %d frozen for 5s: %d orders placed; answers seen: %v", victim, placed.Load(), statuses)
	for _, f := range failures {
		t.Error(f)
	}
	if placed.Load() == 0 {
		t.Error("no order was placed")
	}
	c.checkStock(ctx, t, p.ID, initial, u)
}

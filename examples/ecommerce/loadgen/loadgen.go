package loadgen

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrSetup is wrapped by the error Run returns when the users cannot be
// signed up or logged in, or the catalogue cannot be read.
var ErrSetup = errors.New("loadgen: set-up failed")

// Run signs up and logs in cfg.Users users, then runs the timed phase and
// returns its report. It stops early, with the report so far, when ctx
// ends. It returns an error (and no report) when cfg is invalid or the
// set-up fails.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := targetURL(cfg.Target)
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	g := &gen{
		cfg:   cfg,
		base:  strings.TrimSuffix(base.String(), "/"),
		stats: map[string]*Stats{},
	}
	for _, op := range []string{OpSignup, OpLogin, OpListProducts, OpGetProduct, OpPlaceOrder, OpCancelOrder} {
		g.stats[op] = &Stats{}
	}
	var public *tls.Config
	if base.Scheme == "https" {
		var err error
		if public, err = publicTLS(cfg.Data); err != nil {
			return nil, err
		}
	}
	g.client = newClient(cfg.MaxInFlight, public)
	defer g.client.CloseIdleConnections()

	if err := g.setup(ctx); err != nil {
		return nil, err
	}
	return g.run(ctx), nil
}

type gen struct {
	cfg    Config
	base   string
	client *http.Client
	stats  map[string]*Stats // fixed after Run starts

	users    []user
	products []*product

	inFlight atomic.Int64
	finished atomic.Int64
	failed   atomic.Int64

	chaosMu sync.Mutex // guards chaos
	chaos   []string
}

type user struct {
	email, password, token string
}

type product struct {
	id    string
	empty atomic.Bool // answered out_of_stock: avoid it
}

// newClient returns an HTTP client that dials loopback peers only, does
// not follow redirects, and speaks TLS with tlsCfg to https:// URLs (nil:
// the system's roots).
func newClient(maxConns int, tlsCfg *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if strings.EqualFold(host, "localhost") {
				host = "127.0.0.1"
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("%w: refusing to dial %s", ErrNotLoopback, addr)
			}
			return d.DialContext(ctx, network, net.JoinHostPort(host, port))
		},
		TLSClientConfig:     tlsCfg,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// result is one HTTP exchange.
type result struct {
	status int
	code   string // the error body's code, if any
	body   []byte
	retry  time.Duration // Retry-After of a 429
	err    error
}

// outcome names the result for the statistics.
func (r result) outcome() string {
	switch {
	case r.err != nil && errors.Is(r.err, context.DeadlineExceeded):
		return OutcomeTimeout
	case r.err != nil:
		return OutcomeNet
	case r.status >= 200 && r.status < 300:
		return OutcomeOK
	case r.code != "":
		return strconv.Itoa(r.status) + " " + r.code
	default:
		return strconv.Itoa(r.status)
	}
}

// do sends one request, bounded by cfg.Timeout, and reads the answer.
func (g *gen) do(ctx context.Context, method, path, token string, header http.Header, body any) result {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return result{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return result{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	res := result{status: resp.StatusCode, body: b, err: err}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			res.code = e.Error.Code
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		res.retry = time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			res.retry = time.Duration(s) * time.Second
		}
		res.retry = min(res.retry, MaxRetryAfter)
	}
	return res
}

// doPatient is do that honours 429: it waits Retry-After and tries again
// while ctx allows.
func (g *gen) doPatient(ctx context.Context, method, path, token string, header http.Header, body any) result {
	for {
		r := g.do(ctx, method, path, token, header, body)
		if r.status != http.StatusTooManyRequests {
			return r
		}
		if !sleep(ctx, r.retry) {
			return r
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// setup signs up and logs in the users and reads the catalogue.
func (g *gen) setup(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, SetupTimeout)
	defer cancel()
	run := randomHex(4)
	for i := range g.cfg.Users {
		u := user{email: fmt.Sprintf("loadgen-%s-%d@example.com", run, i+1), password: randomHex(12)}
		start := time.Now()
		r := g.doPatient(ctx, http.MethodPost, "/api/v1/users", "", nil, map[string]string{
			"email": u.email, "password": u.password, "name": fmt.Sprintf("Load Tester %d", i+1),
		})
		g.stats[OpSignup].Record(time.Since(start), r.outcome())
		if r.status != http.StatusCreated {
			return fmt.Errorf("%w: sign up %s: %s", ErrSetup, u.email, describe(r))
		}
		start = time.Now()
		r = g.doPatient(ctx, http.MethodPost, "/api/v1/login", "", nil, map[string]string{
			"email": u.email, "password": u.password,
		})
		g.stats[OpLogin].Record(time.Since(start), r.outcome())
		var login struct{ Token string }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &login) != nil || login.Token == "" {
			return fmt.Errorf("%w: log in %s: %s", ErrSetup, u.email, describe(r))
		}
		u.token = login.Token
		g.users = append(g.users, u)
	}
	r := g.doPatient(ctx, http.MethodGet, "/api/v1/products?limit=200", "", nil, nil)
	var list struct {
		Products []struct {
			ID    string `json:"id"`
			Stock int64  `json:"stock"`
		} `json:"products"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
		return fmt.Errorf("%w: list products: %s", ErrSetup, describe(r))
	}
	for _, p := range list.Products {
		pr := &product{id: p.ID}
		pr.empty.Store(p.Stock <= 0)
		g.products = append(g.products, pr)
	}
	if len(g.products) == 0 {
		return fmt.Errorf("%w: the catalogue is empty", ErrSetup)
	}
	return nil
}

func describe(r result) string {
	if r.err != nil {
		return r.err.Error()
	}
	s := strings.TrimSpace(string(r.body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("status %d %s", r.status, s)
}

// run is the timed phase: the open-loop schedule, the progress bar and the
// chaos loop. Operations run on ctx: the schedule ends at the deadline and
// the operations in flight then finish, bounded by the request timeout.
func (g *gen) run(ctx context.Context) *Report {
	bg, stopBg := context.WithCancel(ctx)
	defer stopBg()
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(g.cfg.Duration)
	var planned, dropped atomic.Int64
	wg.Go(func() { g.progress(bg, start, &planned) })
	if g.cfg.Chaos {
		wg.Go(func() { g.chaosLoop(bg, end) })
	}

	interval := time.Duration(float64(time.Second) / g.cfg.Rate)
	var ops sync.WaitGroup
	t := time.NewTimer(0)
	defer t.Stop()
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		planned.Add(1)
		if g.inFlight.Load() >= int64(g.cfg.MaxInFlight) {
			dropped.Add(1)
			continue
		}
		g.inFlight.Add(1)
		ops.Go(func() {
			defer g.inFlight.Add(-1)
			g.operation(ctx, at)
		})
	}
	elapsed := time.Since(start)
	ops.Wait()
	stopBg()
	wg.Wait()

	rep := &Report{
		Ops:     map[string]Summary{},
		Planned: int(planned.Load()),
		Dropped: int(dropped.Load()),
		Elapsed: elapsed,
		Rate:    g.cfg.Rate,
	}
	for name, s := range g.stats {
		rep.Ops[name] = s.Summary()
	}
	g.chaosMu.Lock()
	rep.Chaos = append(rep.Chaos, g.chaos...)
	g.chaosMu.Unlock()
	return rep
}

// operation runs one planned operation; its latency counts from at.
func (g *gen) operation(ctx context.Context, at time.Time) {
	u := g.users[rand.IntN(len(g.users))]
	x := rand.Float64()
	var op, outcome string
	order, login := g.cfg.OrderShare, g.cfg.LoginShare
	switch {
	case x < login:
		op = OpLogin
		outcome = g.doPatient(ctx, http.MethodPost, "/api/v1/login", "", nil, map[string]string{
			"email": u.email, "password": u.password,
		}).outcome()
	case x < login+order:
		op = OpPlaceOrder
		var id string
		id, outcome = g.placeOrder(ctx, u)
		if id != "" && rand.IntN(4) == 0 {
			defer g.cancelOrder(ctx, u, id)
		}
	case x < login+order+(1-login-order)/2:
		op = OpListProducts
		outcome = g.doPatient(ctx, http.MethodGet, "/api/v1/products?limit=20", "", nil, nil).outcome()
	default:
		op = OpGetProduct
		p := g.products[rand.IntN(len(g.products))]
		outcome = g.doPatient(ctx, http.MethodGet, "/api/v1/products/"+url.PathEscape(p.id), "", nil, nil).outcome()
	}
	g.stats[op].Record(time.Since(at), outcome)
	g.finished.Add(1)
	if outcome != OutcomeOK && outcome != OutcomeNoStock {
		g.failed.Add(1)
	}
}

// placeOrder orders one unit of a product that still had stock, retrying
// with the same Idempotency-Key on failures that may be transient. It
// returns the order's id on success, and the outcome.
func (g *gen) placeOrder(ctx context.Context, u user) (string, string) {
	p := g.pickProduct()
	key := "loadgen-" + randomHex(12)
	h := http.Header{"Idempotency-Key": {key}}
	body := map[string]any{"items": []map[string]any{{"product_id": p.id, "quantity": 1}}}
	var r result
	for attempt := 1; attempt <= 3; attempt++ {
		r = g.doPatient(ctx, http.MethodPost, "/api/v1/orders", u.token, h, body)
		if !retryable(r) || ctx.Err() != nil {
			break
		}
		if !sleep(ctx, time.Duration(attempt)*100*time.Millisecond) {
			break
		}
	}
	if r.status == http.StatusConflict && r.code == "out_of_stock" {
		p.empty.Store(true)
		return "", OutcomeNoStock
	}
	var order struct{ ID string }
	if r.status == http.StatusCreated && json.Unmarshal(r.body, &order) == nil {
		return order.ID, r.outcome()
	}
	return "", r.outcome()
}

// retryable reports whether an order attempt may be sent again with the
// same key: the shop may not have seen it, may have failed half-way, or is
// still working on the first attempt.
func retryable(r result) bool {
	return r.err != nil || r.status >= 500 || (r.status == http.StatusConflict && r.code == "request_in_progress")
}

func (g *gen) pickProduct() *product {
	for range 8 {
		p := g.products[rand.IntN(len(g.products))]
		if !p.empty.Load() {
			return p
		}
	}
	return g.products[rand.IntN(len(g.products))]
}

func (g *gen) cancelOrder(ctx context.Context, u user, id string) {
	start := time.Now()
	r := g.doPatient(ctx, http.MethodPost, "/api/v1/orders/"+url.PathEscape(id)+"/cancel", u.token, nil, nil)
	g.stats[OpCancelOrder].Record(time.Since(start), r.outcome())
}

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// world is what the scenarios of one shop share: the admin, every account
// made (for the restart check) and an idempotency key to replay after the
// restart.
type world struct {
	shop     *shop
	c        *client
	admin    *account
	mu       sync.Mutex // guards accounts
	accounts []*account
	replay   struct {
		acct *account
		key  string
		body map[string]any
		resp []byte
	}
}

func (w *world) remember(as ...*account) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accounts = append(w.accounts, as...)
}

func (w *world) signUp(ctx context.Context, t *testing.T, email, name string) *account {
	t.Helper()
	a := w.c.signUp(ctx, t, email, name)
	w.remember(a)
	return a
}

// TestShop runs the scenarios of DESIGN.md's shop contract against one
// "ecommerce up", in order, then restarts the shop on the same data.
// Scenarios share the shop but not their users or products, so each
// checks its own numbers exactly; each ends with the invariant check.
func TestShop(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	s := startShopOnFreePorts(t, filepath.Join(t.TempDir(), "shop-data"))
	w := &world{shop: s, c: newClient(t, s.base)}

	// Nothing has been asked of the shop yet: this is its memory at rest.
	t.Run("MemoryAtRest", func(t *testing.T) { testMemoryAtRest(t, s) })

	// The shop created the admin account at start: nobody signs up as admin.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	w.admin = w.logInAdmin(ctx, t)
	cancel()
	if w.admin.Role != "admin" {
		t.Fatalf("the bootstrapped admin %s has role %q, want admin", adminEmail, w.admin.Role)
	}
	t.Run("AdminBootstrap", func(t *testing.T) { testAdminBootstrap(t, w) })

	t.Run("HealthAndMetrics", func(t *testing.T) { testHealthAndMetrics(t, w) })
	t.Run("Strangers", func(t *testing.T) { testStrangers(t, w) })
	t.Run("HappyPath", func(t *testing.T) { testHappyPath(t, w) })
	t.Run("Oversell", func(t *testing.T) { testOversell(t, w) })
	t.Run("IdempotencyKey", func(t *testing.T) { testIdempotencyKey(t, w) })
	t.Run("BOLA", func(t *testing.T) { testBOLA(t, w) })
	t.Run("TokenAttacks", func(t *testing.T) { testTokenAttacks(t, w) })
	t.Run("ClientFaults", func(t *testing.T) { testClientFaults(t, w) })
	t.Run("FrozenCatalogReplica", func(t *testing.T) { testFrozenCatalogReplica(t, w) })
	t.Run("SickCatalogInstance", func(t *testing.T) { testSickCatalogInstance(t, w) })
	t.Run("FrozenUsersReplica", func(t *testing.T) { testFrozenUsersReplica(t, w) })
	t.Run("OrdersReplicaKilled", func(t *testing.T) { testOrdersReplicaKilled(t, w) })
	t.Run("Restart", func(t *testing.T) { testRestart(t, w) })
	t.Logf("429 answers honoured by the clients: %d", w.c.throttled.Load())
}

// testMemoryAtRest sums VmRSS over the launcher (with the embedded etcd),
// the six service processes and the gateway: the budget is 400 MiB.
func testMemoryAtRest(t *testing.T, s *shop) {
	time.Sleep(time.Second) // let start-up garbage settle a little
	procs := shopProcesses(s.data)
	if len(procs) != 8 {
		t.Fatalf("%d processes of the shop, want 8 (launcher, 2 × users, catalog, orders, gateway): %v", len(procs), procs)
	}
	var total int64
	var parts []string
	for _, p := range procs {
		kib, err := rssKiB(p.pid)
		if err != nil {
			t.Fatalf("pid %d: %v", p.pid, err)
		}
		total += kib
		role := "launcher"
		if len(p.args) >= 3 && p.args[1] == "serve" {
			role = p.args[2]
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", role, float64(kib)/1024))
	}
	slices.Sort(parts)
	t.Logf("resident memory at rest: %.1f MiB in total (MiB: %s)", float64(total)/1024, strings.Join(parts, ", "))
	if total > 400*1024 {
		t.Errorf("the shop at rest uses %.1f MiB resident, over the 400 MiB budget", float64(total)/1024)
	}
}

// testHealthAndMetrics: /healthz, /readyz and /metrics answer 200 on the
// gateway and on every instance the registry lists, to a caller without a
// client certificate.
func testHealthAndMetrics(t *testing.T, w *world) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bases := []string{w.shop.base}
	st := w.state(ctx, t)
	for _, svc := range []string{"users", "catalog", "orders"} {
		addrs := st.instanceAddrs(svc)
		if len(addrs) != 2 {
			t.Errorf("the gateway sees %d instances of %s, want 2", len(addrs), svc)
		}
		for _, a := range addrs {
			bases = append(bases, "https://"+a)
		}
	}
	// A prober has no certificate: the probes and /metrics are open to it
	// on the services' mutual-TLS listeners.
	hc := stranger(t)
	for _, base := range bases {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Errorf("GET %s%s: %v", base, path, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s%s: %d, want 200", base, path, resp.StatusCode)
			}
		}
	}
}

func testHappyPath(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Sign up; the role in the body is ignored, the email lowercased.
	r := c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/users", "", map[string]string{
		"email": "Ann.Happy@Example.COM", "password": "correct horse battery", "name": "Ann", "role": "admin",
	})
	ann := &account{password: "correct horse battery"}
	r.decode(t, &ann.user)
	if ann.ID == "" || ann.Email != "ann.happy@example.com" || ann.Name != "Ann" || ann.Role != "user" {
		t.Fatalf("sign-up answered %+v, want a new user ann.happy@example.com, Ann, role user", ann.user)
	}
	w.remember(ann)
	r = c.expect(ctx, t, http.StatusConflict, "POST", "/api/v1/users", "", map[string]string{
		"email": "ann.happy@example.com", "password": "another password", "name": "Ann again",
	})
	if r.errorCode() != "email_taken" {
		t.Errorf("second sign-up with the same email: %s, want code email_taken", r)
	}
	r = c.expect(ctx, t, http.StatusUnauthorized, "POST", "/api/v1/login", "", map[string]string{
		"email": "ann.happy@example.com", "password": "wrong password!",
	})
	if r.errorCode() != "invalid_credentials" {
		t.Errorf("login with a wrong password: %s, want code invalid_credentials", r)
	}
	c.logIn(ctx, t, ann)
	var me user
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/me", ann.token, nil).decode(t, &me)
	if me != ann.user {
		t.Errorf("GET /api/v1/me = %+v, want %+v", me, ann.user)
	}

	// Products, paged.
	var first productPage
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/products?limit=5", "", nil).decode(t, &first)
	if len(first.Products) != 5 || first.NextCursor == "" {
		t.Fatalf("first page with limit=5: %d products, next_cursor %q; want 5 and a cursor", len(first.Products), first.NextCursor)
	}
	paged := c.allProducts(ctx, t, 7)
	whole := c.allProducts(ctx, t, 200)
	if len(whole) < 20 {
		t.Fatalf("the catalog lists %d products, want the seeded ≥ 20", len(whole))
	}
	if !slices.Equal(paged, whole) {
		t.Fatalf("paging by 7 gives %d products, one page of 200 gives %d, or they differ", len(paged), len(whole))
	}
	if !slices.IsSortedFunc(whole, func(a, b product) int { return strings.Compare(a.ID, b.ID) }) ||
		len(slices.CompactFunc(slices.Clone(whole), func(a, b product) bool { return a.ID == b.ID })) != len(whole) {
		t.Fatal("the product list is not ordered by id without repeats")
	}
	if !slices.Equal(first.Products, whole[:5]) {
		t.Error("the first page is not the start of the whole list")
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x"} {
		c.expect(ctx, t, http.StatusBadRequest, "GET", "/api/v1/products?"+q, "", nil)
	}
	var p product
	for _, cand := range whole {
		if cand.Stock >= 2 {
			p = cand
			break
		}
	}
	if p.ID == "" {
		t.Fatal("no seeded product has 2 in stock")
	}
	if got := c.product(ctx, t, p.ID); got != p {
		t.Fatalf("GET product %s = %+v, want %+v", p.ID, got, p)
	}
	c.expect(ctx, t, http.StatusNotFound, "GET", "/api/v1/products/prd_doesnotexist", "", nil)

	// Order two, with a key.
	body := orderBody(p.ID, 2)
	r = c.expect(ctx, t, http.StatusBadRequest, "POST", "/api/v1/orders", ann.token, body)
	if r.errorCode() != "missing_idempotency_key" {
		t.Errorf("order without Idempotency-Key: %s, want code missing_idempotency_key", r)
	}
	var o order
	c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", ann.token, body, "Idempotency-Key", "happy-1").decode(t, &o)
	want := order{ID: o.ID, UserID: ann.ID, Status: "confirmed", Items: []item{{ProductID: p.ID, Quantity: 2, PriceCents: p.PriceCents}},
		TotalCents: 2 * p.PriceCents, CreatedAt: o.CreatedAt}
	if o.ID == "" || !equalOrders(o, want) {
		t.Fatalf("order answered %+v, want %+v", o, want)
	}
	if _, err := time.Parse(time.RFC3339, o.CreatedAt); err != nil {
		t.Errorf("created_at %q is not RFC 3339", o.CreatedAt)
	}
	if got := c.product(ctx, t, p.ID).Stock; got != p.Stock-2 {
		t.Fatalf("stock after ordering 2 of %d: %d", p.Stock, got)
	}
	checkInvariant(t, w.shop.data)

	// Read it, alone in the list.
	var got order
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/orders/"+o.ID, ann.token, nil).decode(t, &got)
	if !equalOrders(got, o) {
		t.Fatalf("GET order = %+v, want %+v", got, o)
	}
	if list := c.orders(ctx, t, ann); len(list) != 1 || !equalOrders(list[0], o) {
		t.Fatalf("order list = %+v, want just %+v", list, o)
	}

	// Cancel it: the stock comes back; cancelling again changes nothing.
	for range 2 {
		var cancelled order
		c.expect(ctx, t, http.StatusOK, "POST", "/api/v1/orders/"+o.ID+"/cancel", ann.token, nil).decode(t, &cancelled)
		want := o
		want.Status = "cancelled"
		if !equalOrders(cancelled, want) {
			t.Fatalf("cancel answered %+v, want %+v", cancelled, want)
		}
		if got := c.product(ctx, t, p.ID).Stock; got != p.Stock {
			t.Fatalf("stock after cancelling: %d, want it back at %d", got, p.Stock)
		}
	}
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/orders/"+o.ID, ann.token, nil).decode(t, &got)
	if got.Status != "cancelled" {
		t.Errorf("order status after cancel: %q", got.Status)
	}
	checkInvariant(t, w.shop.data)
}

// equalOrders compares two orders field by field.
func equalOrders(a, b order) bool {
	return a.ID == b.ID && a.UserID == b.UserID && a.Status == b.Status && slices.Equal(a.Items, b.Items) &&
		a.TotalCents == b.TotalCents && a.CreatedAt == b.CreatedAt
}

// signUpMany makes n accounts in parallel (the gateway's sign-up and login
// limits answer 429 to some, which the client waits out).
func (w *world) signUpMany(ctx context.Context, t *testing.T, prefix string, n int) []*account {
	t.Helper()
	out := make([]*account, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			email := fmt.Sprintf("%s-%02d@example.com", prefix, i)
			a := &account{password: "pw-" + email + "-long enough"}
			r, err := w.c.call(ctx, "POST", "/api/v1/users", "", map[string]string{"email": email, "password": a.password, "name": prefix})
			if err != nil || r.status != http.StatusCreated {
				errs[i] = fmt.Sprintf("sign-up %s: %v %v", email, r, err)
				return
			}
			_ = json.Unmarshal(r.body, &a.user)
			r, err = w.c.call(ctx, "POST", "/api/v1/login", "", map[string]string{"email": email, "password": a.password})
			var l loginAnswer
			if err != nil || r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil || l.Token == "" {
				errs[i] = fmt.Sprintf("login %s: %v %v", email, r, err)
				return
			}
			a.token = l.Token
			out[i] = a
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	w.remember(out...)
	return out
}

// testOversell: 200 concurrent orders of one unit each, from 20 users, for
// a product with 50 in stock.
func testOversell(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const (
		stock    = 50
		users    = 20
		perUser  = 10
		attempts = users * perUser
	)
	p := c.createProduct(ctx, t, w.admin, "Last fifty teapots", 2999, stock)
	accts := w.signUpMany(ctx, t, "oversell", users)

	// A watcher reads the stock while the orders run: it never goes
	// negative and never goes up (nothing is cancelled here).
	watchDone := make(chan struct{})
	var watch struct {
		reads  int
		broken string
	}
	var watchWG sync.WaitGroup
	watchWG.Go(func() {
		last := int64(stock)
		for {
			select {
			case <-watchDone:
				return
			default:
			}
			r, err := c.call(ctx, "GET", "/api/v1/products/"+p.ID, "", nil)
			if err != nil || r.status != http.StatusOK {
				if watch.broken == "" {
					watch.broken = fmt.Sprintf("GET product during the orders: %v %v", r, err)
				}
				continue
			}
			var cur product
			_ = json.Unmarshal(r.body, &cur)
			watch.reads++
			if (cur.Stock < 0 || cur.Stock > last) && watch.broken == "" {
				watch.broken = fmt.Sprintf("stock went from %d to %d", last, cur.Stock)
			}
			last = cur.Stock
			time.Sleep(5 * time.Millisecond)
		}
	})

	type answer struct {
		status int
		code   string
		order  order
		err    error
	}
	answers := make([]answer, attempts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range attempts {
		a := accts[i%users]
		wg.Go(func() {
			<-start
			r, err := c.call(ctx, "POST", "/api/v1/orders", a.token, orderBody(p.ID, 1), "Idempotency-Key", fmt.Sprintf("oversell-%d", i))
			if err != nil {
				answers[i] = answer{err: err}
				return
			}
			answers[i] = answer{status: r.status, code: r.errorCode()}
			if r.status == http.StatusCreated {
				_ = json.Unmarshal(r.body, &answers[i].order)
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	close(watchDone)
	watchWG.Wait()

	confirmed, outOfStock := 0, 0
	seen := map[string]bool{}
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("order %d: %v", i, a.err)
		case a.status == http.StatusCreated && a.order.Status == "confirmed" && !seen[a.order.ID]:
			seen[a.order.ID] = true
			confirmed++
		case a.status == http.StatusConflict && a.code == "out_of_stock":
			outOfStock++
		default:
			t.Errorf("order %d: status %d code %q (order %+v), want 201 confirmed or 409 out_of_stock", i, a.status, a.code, a.order)
		}
	}
	t.Logf("%d concurrent orders in %v: %d confirmed, %d out of stock; stock read %d times meanwhile",
		attempts, elapsed.Round(time.Millisecond), confirmed, outOfStock, watch.reads)
	if confirmed != stock || outOfStock != attempts-stock {
		t.Errorf("%d confirmed and %d out of stock, want exactly %d and %d", confirmed, outOfStock, stock, attempts-stock)
	}
	if watch.broken != "" {
		t.Errorf("stock watcher: %s", watch.broken)
	}
	if watch.reads == 0 {
		t.Error("the stock watcher read nothing")
	}
	if got := c.product(ctx, t, p.ID).Stock; got != 0 {
		t.Errorf("stock after the storm: %d, want 0", got)
	}
	c.checkStock(ctx, t, p.ID, stock, accts...)
	checkInvariant(t, w.shop.data)
}

// testIdempotencyKey: one key sent ten times at once, then again; then with
// another body.
func testIdempotencyKey(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := c.createProduct(ctx, t, w.admin, "Idempotent kettle", 4500, 100)
	u := w.signUp(ctx, t, "idem@example.com", "Idem")
	const key = "idem-key-1"
	body := orderBody(p.ID, 3)

	rs := make([]*response, 10)
	errs := make([]error, 10)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() {
			<-start
			rs[i], errs[i] = c.call(ctx, "POST", "/api/v1/orders", u.token, body, "Idempotency-Key", key)
		})
	}
	close(start)
	wg.Wait()
	var first []byte
	created, inProgress := 0, 0
	for i, r := range rs {
		switch {
		case errs[i] != nil:
			t.Fatalf("attempt %d: %v", i, errs[i])
		case r.status == http.StatusCreated:
			created++
			if first == nil {
				first = r.body
			} else if !bytes.Equal(r.body, first) {
				t.Errorf("two 201 answers for one key differ:\n%s\n%s", first, r.body)
			}
		case r.status == http.StatusConflict && r.errorCode() == "request_in_progress":
			inProgress++
		default:
			t.Errorf("attempt %d: %s, want 201 or 409 request_in_progress", i, r)
		}
	}
	t.Logf("10 concurrent sends of one key: %d × 201, %d × 409 request_in_progress", created, inProgress)
	if created == 0 {
		t.Fatal("no attempt got 201")
	}
	again := c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", u.token, body, "Idempotency-Key", key)
	if !bytes.Equal(again.body, first) {
		t.Errorf("the replay differs from the first answer:\n%s\n%s", first, again.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the replay has Idempotent-Replayed %q, want true", again.header.Get("Idempotent-Replayed"))
	}
	var o order
	again.decode(t, &o)
	if list := c.orders(ctx, t, u); len(list) != 1 || list[0].ID != o.ID {
		t.Fatalf("after 11 sends of one key the user has %d orders (%+v), want exactly order %s", len(list), list, o.ID)
	}
	if got := c.product(ctx, t, p.ID).Stock; got != 100-3 {
		t.Errorf("stock %d after one order of 3 from 100", got)
	}

	r := c.expect(ctx, t, http.StatusUnprocessableEntity, "POST", "/api/v1/orders", u.token, orderBody(p.ID, 4), "Idempotency-Key", key)
	if r.errorCode() != "idempotency_key_reused" {
		t.Errorf("same key, other body: %s, want code idempotency_key_reused", r)
	}
	// Keys belong to a user: another user's identical request is another order.
	v := w.signUp(ctx, t, "idem-other@example.com", "Other")
	var o2 order
	c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", v.token, body, "Idempotency-Key", key).decode(t, &o2)
	if o2.ID == o.ID || o2.UserID != v.ID {
		t.Errorf("another user's order under the same key: %+v", o2)
	}
	c.checkStock(ctx, t, p.ID, 100, u, v)
	checkInvariant(t, w.shop.data)

	w.replay.acct, w.replay.key, w.replay.body, w.replay.resp = u, key, body, first
}

// testBOLA: user B cannot see or cancel user A's order; non-admins cannot
// change the catalog; no token, no access.
func testBOLA(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := c.createProduct(ctx, t, w.admin, "Guarded grinder", 8900, 10)
	a := w.signUp(ctx, t, "bola-a@example.com", "A")
	b := w.signUp(ctx, t, "bola-b@example.com", "B")
	var oa order
	c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", a.token, orderBody(p.ID, 1), "Idempotency-Key", "bola-1").decode(t, &oa)

	c.expect(ctx, t, http.StatusNotFound, "GET", "/api/v1/orders/"+oa.ID, b.token, nil)
	c.expect(ctx, t, http.StatusNotFound, "POST", "/api/v1/orders/"+oa.ID+"/cancel", b.token, nil)
	if list := c.orders(ctx, t, b); len(list) != 0 {
		t.Errorf("B lists %d orders, want none: %+v", len(list), list)
	}
	var still order
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/orders/"+oa.ID, a.token, nil).decode(t, &still)
	if still.Status != "confirmed" {
		t.Errorf("A's order is %q after B's attempt to cancel it", still.Status)
	}
	if got := c.product(ctx, t, p.ID).Stock; got != 9 {
		t.Errorf("stock %d, want 9: B's cancel must not release A's stock", got)
	}

	// Non-admins: 403 from the gateway, the product untouched.
	r := c.expect(ctx, t, http.StatusForbidden, "POST", "/api/v1/products", a.token,
		map[string]any{"name": "Free lunch", "price_cents": 0, "stock": 5})
	if r.errorCode() != "forbidden" {
		t.Errorf("non-admin create: %s, want code forbidden", r)
	}
	c.expect(ctx, t, http.StatusForbidden, "PATCH", "/api/v1/products/"+p.ID, a.token, map[string]any{"stock": 1000000, "price_cents": 1})
	if got := c.product(ctx, t, p.ID); got.Stock != 9 || got.PriceCents != 8900 {
		t.Errorf("product after a non-admin PATCH: %+v", got)
	}
	// The admin can (so the 403s above are about the role).
	var patched product
	c.expect(ctx, t, http.StatusOK, "PATCH", "/api/v1/products/"+p.ID, w.admin.token, map[string]any{"description": "Patched by the admin."}).decode(t, &patched)
	if patched.Description != "Patched by the admin." || patched.Stock != 9 || patched.PriceCents != 8900 {
		t.Errorf("admin PATCH answered %+v", patched)
	}

	// No token, or not a token: 401 on every protected route.
	for _, tok := range []string{"", "not-a-token"} {
		for _, rt := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/me", nil},
			{"GET", "/api/v1/orders", nil},
			{"GET", "/api/v1/orders/" + oa.ID, nil},
			{"POST", "/api/v1/orders", orderBody(p.ID, 1)},
			{"POST", "/api/v1/orders/" + oa.ID + "/cancel", nil},
			{"POST", "/api/v1/products", map[string]any{"name": "x", "price_cents": 1, "stock": 1}},
			{"PATCH", "/api/v1/products/" + p.ID, map[string]any{"stock": 1}},
			{"GET", "/admin/api/state", nil},
		} {
			r := c.must(ctx, t, rt.method, rt.path, tok, rt.body, "Idempotency-Key", "bola-anon")
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %s, want 401", rt.method, rt.path, tok, r)
			}
		}
	}
	c.expect(ctx, t, http.StatusForbidden, "GET", "/admin/api/state", a.token, nil)
	c.checkStock(ctx, t, p.ID, 10, a, b)
	checkInvariant(t, w.shop.data)
}

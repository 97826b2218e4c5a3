package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// keyResult is the final answer a client got for one idempotency key.
type keyResult struct {
	key      string
	quantity int64
	body     []byte
	order    order
	attempts int
}

// placeUntilFinal sends one order under key until it gets a final answer:
// 201, or another 4xx that is not 409 request_in_progress. Transport
// errors, 5xx and 409 request_in_progress are retried with the same key
// and body after a short pause (429 is waited out by the client).
func placeUntilFinal(ctx context.Context, c *client, token, key string, body any, seen func(status int, err error)) (*response, int, error) {
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 12*time.Second)
		r, err := c.call(rctx, "POST", "/api/v1/orders", token, body, "Idempotency-Key", key)
		cancel()
		if seen != nil {
			status := 0
			if r != nil {
				status = r.status
			}
			seen(status, err)
		}
		if err == nil && r.status < 500 && !(r.status == http.StatusConflict && r.errorCode() == "request_in_progress") {
			return r, attempt, nil
		}
		select {
		case <-ctx.Done():
			return r, attempt, fmt.Errorf("key %s: no final answer in time (last %v, %v)", key, r, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// testOrdersReplicaKilled: a client places orders with keys, retrying each
// until it gets a final answer, while one orders replica is killed with
// SIGKILL. Afterwards every key has exactly one order, every order the
// client saw confirmed exists, and the stock adds up.
func testOrdersReplicaKilled(t *testing.T, w *world) {
	c := w.c
	// An order that was in flight on the killed replica holds its key until
	// the claim's lease (15 s) ends; the retry then takes it over.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const initial = 100000
	p := c.createProduct(ctx, t, w.admin, "Crash-proof mug", 1250, initial)
	u := w.signUp(ctx, t, "crash@example.com", "Crash")

	pids := w.shop.servicePIDs("orders")
	if len(pids) != 2 {
		t.Fatalf("%d orders processes, want 2", len(pids))
	}
	victim := pids[0]

	var (
		mu       sync.Mutex // guards results, statuses
		results  []keyResult
		statuses = map[string]int{}
		failures []string
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
	var confirmed, afterKill atomic.Int64
	var killed atomic.Bool
	stopNew := make(chan struct{})
	const workers = 4
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopNew:
					return
				default:
				}
				key := fmt.Sprintf("crash-%d-%d", wk, i)
				q := int64(1 + (wk+i)%3)
				r, attempts, err := placeUntilFinal(ctx, c, u.token, key, orderBody(p.ID, q), seen)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else if r.status != http.StatusCreated {
					failures = append(failures, fmt.Sprintf("key %s: final answer %s, want 201", key, r))
				} else {
					kr := keyResult{key: key, quantity: q, body: r.body, attempts: attempts}
					if err := json.Unmarshal(r.body, &kr.order); err != nil {
						failures = append(failures, fmt.Sprintf("key %s: %v", key, err))
					}
					results = append(results, kr)
				}
				mu.Unlock()
				if err != nil {
					return
				}
				confirmed.Add(1)
				if killed.Load() {
					afterKill.Add(1)
				}
			}
		})
	}

	stopWorkers := sync.OnceFunc(func() {
		close(stopNew)
		wg.Wait()
	})
	defer stopWorkers()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("30 orders before the kill", func() bool { return confirmed.Load() >= 30 })
	beforeKill := confirmed.Load()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL orders pid %d: %v", victim, err)
	}
	killed.Store(true)
	killedAt := time.Now()
	// The survivor goes on taking orders; the launcher restarts the
	// killed replica after a pause.
	waitFor("60 orders after the kill", func() bool { return afterKill.Load() >= 60 })
	stopWorkers()
	settled := time.Since(killedAt)

	mu.Lock() // the workers are done; this only orders their writes before the reads
	defer mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	retried := 0
	for _, r := range results {
		if r.attempts > 1 {
			retried++
		}
	}
	t.Logf("orders pid %d killed after %d confirmed orders; %d keys in all, %d needed retries; every key final %v after the kill; answers seen: %v",
		victim, beforeKill, len(results), retried, settled.Round(time.Millisecond), statuses)

	// One order per key, and each confirmed order is there as the client
	// saw it.
	byID := map[string]keyResult{}
	var sold int64
	for _, r := range results {
		if prev, dup := byID[r.order.ID]; dup {
			t.Errorf("keys %s and %s got the same order %s", prev.key, r.key, r.order.ID)
		}
		byID[r.order.ID] = r
		sold += r.quantity
		if r.order.Status != "confirmed" || len(r.order.Items) != 1 || r.order.Items[0].Quantity != r.quantity {
			t.Errorf("key %s answered %+v, want a confirmed order of %d", r.key, r.order, r.quantity)
		}
	}
	list := c.orders(ctx, t, u)
	if len(list) != len(results) {
		t.Errorf("the user has %d orders for %d keys: duplicates or lost orders", len(list), len(results))
	}
	for _, o := range list {
		r, ok := byID[o.ID]
		switch {
		case !ok:
			t.Errorf("order %s exists but no key was answered with it (a duplicate)", o.ID)
		case !equalOrders(o, r.order):
			t.Errorf("order %s is %+v, but key %s was answered %+v", o.ID, o, r.key, r.order)
		}
		delete(byID, o.ID)
	}
	for id, r := range byID {
		t.Errorf("key %s was confirmed as order %s, which does not exist", r.key, id)
	}
	// Each key replays its first answer byte for byte.
	for _, r := range results {
		again := c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", u.token, orderBody(p.ID, r.quantity), "Idempotency-Key", r.key)
		if !bytes.Equal(again.body, r.body) {
			t.Errorf("key %s replays\n%s\nbut first answered\n%s", r.key, again.body, r.body)
		}
	}
	if got := c.product(ctx, t, p.ID).Stock; initial-got != sold {
		t.Errorf("stock %d: %d units gone, but confirmed orders hold %d", got, initial-got, sold)
	}
	c.checkStock(ctx, t, p.ID, initial, u)
	checkInvariant(t, w.shop.data)

	// The launcher brings the killed replica back.
	waitFor("the launcher to restart the killed orders replica", func() bool {
		pids := w.shop.servicePIDs("orders")
		return len(pids) == 2 && pids[0] != victim && pids[1] != victim
	})
}

package users_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// attack fails logins to account from t0 until end as fast as th lets it,
// retrying exactly when the last refusal said, from the addresses src
// gives (src(i) for the i-th attempt). It returns the failures admitted,
// the Retry-After of every refusal and the time of the last failure.
func attack(th *users.Throttle, account string, src func(i int) string, from time.Time, d time.Duration) (n int, waits []time.Duration, last time.Time) {
	now, end := from, from.Add(d)
	for i := 0; now.Before(end); i++ {
		wait, _ := th.Begin(account, src(i), false, now)
		if wait == 0 {
			n++
			last = now
			continue
		}
		waits = append(waits, wait)
		now = now.Add(wait)
	}
	return n, waits, last
}

func oneAddress(int) string { return "203.0.113.7" }

func manyAddresses(i int) string { return fmt.Sprintf("198.51.%d.%d", i/256, i%256) }

// The numbers the package documentation promises, per replica.
func TestThrottleNumbers(t *testing.T) {
	tests := []struct {
		name      string
		src       func(int) string
		d         time.Duration
		want      int
		wantWaits []time.Duration // the first refusals' Retry-After
	}{
		{"one address, first minute", oneAddress, time.Minute, 10,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}},
		{"one address, first hour", oneAddress, time.Hour, 17, nil},
		{"one address, first day", oneAddress, 24 * time.Hour, 17 + 23*4, nil}, // then one per 15 min
		{"many addresses, first minute", manyAddresses, time.Minute, 25,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}},
		{"many addresses, first hour", manyAddresses, time.Hour, 39, nil},
		{"many addresses, first day", manyAddresses, 24 * time.Hour, 39 + 23*12, nil}, // then one per 5 min
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := users.NewThrottle(users.ThrottleSettings{})
			n, waits, _ := attack(th, "ann@example.com", tt.src, t0, tt.d)
			if n != tt.want {
				t.Errorf("%d failed logins admitted, want %d", n, tt.want)
			}
			for i, w := range tt.wantWaits {
				if i >= len(waits) || waits[i] != w {
					t.Fatalf("Retry-After of the refusals = %v, want %v first", waits, tt.wantWaits)
				}
			}
			for _, w := range waits {
				if w > 15*time.Minute {
					t.Fatalf("a wait of %v: the longest delay is 15 min", w)
				}
			}
		})
	}
}

// After an attack from many addresses stops, anybody (the owner from an
// address the account never used) gets in within 5 minutes of the last
// failure, however long the attack went on; where the attacker shares the
// owner's address, within 15 minutes.
func TestThrottleOwnerAfterAttackStops(t *testing.T) {
	for _, d := range []time.Duration{time.Minute, time.Hour, 7 * 24 * time.Hour} {
		th := users.NewThrottle(users.ThrottleSettings{})
		_, _, last := attack(th, "ann@example.com", manyAddresses, t0, d)
		owner := "192.0.2.55"
		w, byAccount := th.Begin("ann@example.com", owner, false, last.Add(time.Second))
		if w == 0 || !byAccount || w > 5*time.Minute-time.Second {
			t.Errorf("attack of %v: 1 s after the last failure: wait %v (byAccount %v), want at most 5 min by the account", d, w, byAccount)
		}
		if d >= time.Hour && w != 5*time.Minute-time.Second {
			t.Errorf("attack of %v: wait %v, want the longest account delay, 5 min, from the last failure", d, w)
		}
		if w, _ := th.Begin("ann@example.com", owner, false, last.Add(5*time.Minute)); w != 0 {
			t.Errorf("attack of %v: the owner waits %v 5 min after the last failure", d, w)
		}
		th.Success("ann@example.com", owner, false)
	}

	th := users.NewThrottle(users.ThrottleSettings{})
	_, _, last := attack(th, "ann@example.com", oneAddress, t0, 24*time.Hour)
	if w, _ := th.Begin("ann@example.com", oneAddress(0), false, last.Add(15*time.Minute-time.Second)); w != time.Second {
		t.Errorf("the attacker's own address waits %v 1 s before 15 min after its last failure, want 1s", w)
	}
	// Its failures count for the account too, so other addresses wait
	// for the account's delay, 5 min at most.
	if w, _ := th.Begin("ann@example.com", "192.0.2.55", false, last.Add(5*time.Minute)); w != 0 {
		t.Errorf("another address waits %v 5 min after the last failure", w)
	}
	if w, _ := th.Begin("ann@example.com", oneAddress(0), false, last.Add(15*time.Minute)); w != 0 {
		t.Errorf("the attacker's own address waits %v 15 min after its last failure", w)
	}
}

// An address exempt from the account budget (one the owner logged in
// from) is held only by its own count.
func TestThrottleExemptSource(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{})
	_, _, last := attack(th, "ann@example.com", manyAddresses, t0, time.Hour)
	now := last.Add(time.Second)
	w, byAccount := th.Begin("ann@example.com", "192.0.2.55", false, now)
	if w == 0 || !byAccount {
		t.Fatalf("during the attack: wait %v byAccount %v, want a wait by the account", w, byAccount)
	}
	if w, _ := th.Begin("ann@example.com", "192.0.2.55", true, now); w != 0 {
		t.Fatalf("exempt address waits %v", w)
	}
	th.Success("ann@example.com", "192.0.2.55", true)
}

func TestThrottleSuccessResetsTheSource(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{})
	for range 4 {
		if w, _ := th.Begin("ann@example.com", "192.0.2.1", false, t0); w != 0 {
			t.Fatal("refused within the free failures")
		}
	}
	th.Begin("ann@example.com", "192.0.2.1", false, t0) // the right password
	th.Success("ann@example.com", "192.0.2.1", false)
	if n, _, _ := attack(th, "ann@example.com", func(int) string { return "192.0.2.1" }, t0, time.Second); n != 5 {
		t.Fatalf("after a success: %d free failures, want 5", n)
	}
	if s, a := th.Len(); s != 1 || a != 1 {
		t.Fatalf("Len = %d, %d; want 1, 1", s, a)
	}
}

// A key's count is forgotten after an hour without failures.
func TestThrottleDecaysAfterQuiet(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{})
	_, _, last := attack(th, "ann@example.com", oneAddress, t0, time.Hour)
	// 59 minutes on the count still stands: one failure, then 15 min.
	n, waits, last := attack(th, "ann@example.com", oneAddress, last.Add(59*time.Minute), time.Second)
	if n != 1 || len(waits) != 1 || waits[0] != 15*time.Minute {
		t.Fatalf("59 min after the last failure: %d admitted, then waits %v; want 1, then 15m", n, waits)
	}
	if n, _, _ := attack(th, "ann@example.com", oneAddress, last.Add(time.Hour), time.Second); n != 5 {
		t.Fatalf("an hour after the last failure: %d admitted at once, want 5", n)
	}
}

// Refund takes back an attempt that reached no verdict.
func TestThrottleRefund(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{})
	for range 100 {
		if w, _ := th.Begin("ann@example.com", "192.0.2.1", false, t0); w != 0 {
			t.Fatal("refused after refunds")
		}
		th.Refund("ann@example.com", "192.0.2.1", false)
	}
	if s, a := th.Len(); s != 0 || a != 0 {
		t.Fatalf("Len = %d, %d after refunds; want 0, 0", s, a)
	}
}

// A refund leaves a key where its last failure puts it, so the quiet sweep
// that every failure runs still drops every stale key: a refunded key
// moved ahead of newer ones would stop the sweep at the first fresh key
// behind it. Keys z, a and b fail at t0, t0+1s and t0+2m; a's second
// failure is then refunded (with Free 2 that moves it from the delayed
// keys back to the undelayed ones). At t0+1h+90s, when z and a have been
// quiet for an hour and b has not, a failure of c must leave only b and c.
func TestThrottleRefundKeepsQuietSweep(t *testing.T) {
	for _, free := range []int{2, 5} {
		t.Run(fmt.Sprintf("free %d", free), func(t *testing.T) {
			rule := users.ThrottleRule{Free: free, Base: time.Second, Max: time.Minute, Quiet: time.Hour}
			th := users.NewThrottle(users.ThrottleSettings{Source: rule, Account: rule})
			begin := func(account string, at time.Time) {
				t.Helper()
				if w, _ := th.Begin(account, account+"-source", false, at); w != 0 {
					t.Fatalf("%s refused at %v: wait %v", account, at, w)
				}
			}
			begin("z", t0)
			begin("a", t0.Add(time.Second))
			begin("a", t0.Add(time.Second))
			begin("b", t0.Add(2*time.Minute))
			th.Refund("a", "a-source", false)
			if s, a := th.Len(); s != 3 || a != 3 {
				t.Fatalf("Len = %d, %d before the sweep; want 3, 3", s, a)
			}
			begin("c", t0.Add(time.Hour+90*time.Second))
			if s, a := th.Len(); s != 2 || a != 2 {
				t.Fatalf("Len = %d, %d after the sweep; want 2, 2 (b and c): a stale key lingers", s, a)
			}
		})
	}
}

// Concurrent attempts cannot slip past the limit together: each is counted
// when it begins.
func TestThrottleConcurrent(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{})
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			src := "192.0.2.1"
			if i%2 == 1 {
				src = fmt.Sprintf("198.51.100.%d", i)
			}
			if w, _ := th.Begin("ann@example.com", src, false, t0); w == 0 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	// 32 from one address (5 admitted) and 32 from 32 addresses (each
	// free): 37 would pass the sources, and the account allows 20.
	if n := admitted.Load(); n != 20 {
		t.Fatalf("%d admitted, want 20 (the account's free failures)", n)
	}
}

// Memory is bounded, and a flood of one-off failures does not push out the
// count of an account under attack.
func TestThrottleMemoryBound(t *testing.T) {
	th := users.NewThrottle(users.ThrottleSettings{MaxKeys: 1000})
	n, _, last := attack(th, "victim@example.com", manyAddresses, t0, time.Minute)
	if n != 25 {
		t.Fatalf("%d admitted", n)
	}
	now := last.Add(time.Second)
	for i := range 100_000 {
		th.Begin(fmt.Sprintf("junk%d@example.com", i), "192.0.2.9", false, now)
	}
	if s, a := th.Len(); s > 1000 || a > 1000 {
		t.Fatalf("Len = %d, %d; want at most 1000 each", s, a)
	}
	if w, byAccount := th.Begin("victim@example.com", "192.0.2.200", false, now); w == 0 || !byAccount {
		t.Fatalf("the victim's account count was evicted by the flood: wait %v", w)
	}
}

func BenchmarkThrottleBegin(b *testing.B) {
	th := users.NewThrottle(users.ThrottleSettings{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			acct := "ann@example.com"
			if w, _ := th.Begin(acct, "192.0.2.1", false, t0); w == 0 {
				th.Success(acct, "192.0.2.1", false)
			}
		}
	})
}

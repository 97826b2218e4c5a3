package pki_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
)

// Run renews a certificate at the first check past half its life, not
// before, logs it, and returns when its context ends. In a synctest
// bubble the ticker and time.Now are the bubble's fake clock.
func TestRunRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		a := open(t, t.TempDir(), pki.Config{Lifetime: time.Hour, Logger: logs.logger()})
		files := issue(t, a, "orders")
		first := leafOf(t, files.Cert).SerialNumber
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- a.Run(ctx, []string{"orders", "users"}, 0) }()

		// The first pass, at once, issues the missing users certificate
		// and leaves the fresh orders one.
		synctest.Wait()
		if leafOf(t, files.Cert).SerialNumber.Cmp(first) != 0 {
			t.Fatal("Run renewed a fresh certificate")
		}
		if _, err := os.Stat(filepath.Join(a.Dir(), "users.pem")); err != nil {
			t.Fatalf("Run did not issue the missing users certificate: %v", err)
		}
		// Half of 1 h 1 min is 30.5 min after NotBefore, 29.5 min from
		// now; checks come every 3 min (1 h / 20).
		time.Sleep(29 * time.Minute)
		synctest.Wait()
		if leafOf(t, files.Cert).SerialNumber.Cmp(first) != 0 {
			t.Fatal("Run renewed before half the lifetime")
		}
		time.Sleep(time.Minute + time.Second) // past the check at 30 min
		synctest.Wait()
		renewed := leafOf(t, files.Cert)
		if renewed.SerialNumber.Cmp(first) == 0 {
			t.Fatal("Run did not renew at the first check past half the lifetime")
		}
		if want := time.Now().Add(-time.Second).Add(time.Hour); !renewed.NotAfter.Equal(want) {
			t.Errorf("renewed at %v, want at the check of 30 min (NotAfter %v)", renewed.NotAfter, want)
		}
		if n := strings.Count(logs.String(), "renewed a service certificate"); n != 3 {
			t.Errorf("%d renewals logged, want 3 (users at once, orders and users at 30 min):\n%s", n, logs.String())
		}
		if !strings.Contains(logs.String(), "service=orders reason=\"past half its lifetime\"") {
			t.Errorf("log lacks the reason:\n%s", logs.String())
		}

		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		default:
			t.Fatal("Run did not return when its context ended")
		}
	})
}

// An error is logged and the renewal tried again at the next check; the
// other services are renewed meanwhile.
func TestRunRetriesAfterErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		a := open(t, t.TempDir(), pki.Config{Lifetime: time.Hour, Logger: logs.logger()})
		// A directory where users.pem goes: the rename onto it fails.
		blocker := filepath.Join(a.Dir(), "users.pem")
		if err := os.Mkdir(blocker, 0o700); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Run(ctx, []string{"users", "orders"}, 10*time.Second)
		synctest.Wait()
		if !strings.Contains(logs.String(), "could not renew a service certificate") {
			t.Fatalf("the failure is not logged:\n%s", logs.String())
		}
		if _, err := os.Stat(filepath.Join(a.Dir(), "orders.pem")); err != nil {
			t.Errorf("orders was not issued after users failed: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := strings.Count(logs.String(), "could not renew"); n != 2 {
			t.Errorf("%d failures logged after two checks, want 2", n)
		}
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		leafOf(t, blocker) // issued at the third check
		if n := strings.Count(logs.String(), "could not renew"); n != 2 {
			t.Errorf("%d failures logged, want still 2", n)
		}
	})
}

// The check interval: zero is Lifetime/20, and anything is at least a
// second. Each check is counted by the failure it logs, a directory
// standing where the certificate goes.
func TestRunCheckInterval(t *testing.T) {
	for _, tc := range []struct {
		lifetime, check, wait time.Duration
		checks                int // including the one at once
	}{
		{time.Hour, 0, 9 * time.Minute, 1 + 3},
		{time.Hour, -time.Second, 9 * time.Minute, 1 + 3},
		{time.Hour, time.Millisecond, 5 * time.Second, 1 + 5},
		{10 * time.Second, 0, 5 * time.Second, 1 + 5},
		{time.Hour, 2 * time.Second, 5 * time.Second, 1 + 2},
	} {
		t.Run(fmt.Sprintf("lifetime %v check %v", tc.lifetime, tc.check), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs logBuffer
				a := open(t, t.TempDir(), pki.Config{Lifetime: tc.lifetime, Logger: logs.logger()})
				if err := os.Mkdir(filepath.Join(a.Dir(), "orders.pem"), 0o700); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go a.Run(ctx, []string{"orders"}, tc.check)
				time.Sleep(tc.wait)
				synctest.Wait()
				if n := strings.Count(logs.String(), "could not renew"); n != tc.checks {
					t.Errorf("%d checks in %v, want %d", n, tc.wait, tc.checks)
				}
			})
		})
	}
}

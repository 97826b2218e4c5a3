package deadline_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
)

// recordingRT records the Header of each request it is given.
type recordingRT struct{ got []string }

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req.Header.Get(deadline.Header))
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

func TestTransportWritesTheTimeLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &recordingRT{}
		rt := mustDeadline(deadline.Config{}).Transport(base)
		withAllowance := mustDeadline(deadline.Config{HopAllowance: 10 * time.Millisecond}).Transport(base)
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream/", nil)
		req.Header.Set(deadline.Header, "99999") // a stale value is replaced

		trip := func(rt http.RoundTripper) {
			t.Helper()
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		}
		trip(rt)
		time.Sleep(50 * time.Millisecond)
		trip(rt)
		trip(withAllowance)
		time.Sleep(199*time.Millisecond + 500*time.Microsecond) // 0.5 ms left: rounds down to nothing
		if _, err := rt.RoundTrip(req); !errors.Is(err, deadline.ErrExceeded) {
			t.Fatalf("RoundTrip with 0.5 ms left = %v, want ErrExceeded", err)
		}
		if want := []string{"250", "200", "190"}; len(base.got) != len(want) || base.got[0] != want[0] || base.got[1] != want[1] || base.got[2] != want[2] {
			t.Fatalf("headers sent %v, want %v", base.got, want)
		}
		if req.Header.Get(deadline.Header) != "99999" {
			t.Fatal("the transport modified the caller's request")
		}
	})
}

func TestTransportWithoutDeadline(t *testing.T) {
	base := &recordingRT{}
	req, _ := http.NewRequest(http.MethodGet, "http://upstream/", nil)
	if _, err := mustDeadline(deadline.Config{}).Transport(base).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if len(base.got) != 1 || base.got[0] != "" {
		t.Fatalf("headers sent %q, want none", base.got)
	}
}

package clock_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
)

func TestFakeRunsCallbacksInOrderAtTheirDeadline(t *testing.T) {
	start := time.Unix(1000, 0)
	c := clock.NewFake(start)
	var got []time.Duration
	c.AfterFunc(3*time.Second, func() { got = append(got, c.Now().Sub(start)) })
	c.AfterFunc(time.Second, func() {
		got = append(got, c.Now().Sub(start))
		c.AfterFunc(time.Second, func() { got = append(got, c.Now().Sub(start)) })
	})
	stop := c.AfterFunc(2500*time.Millisecond, func() { t.Error("stopped callback ran") })
	if !stop() {
		t.Fatal("stop reported the callback as already run")
	}
	c.Advance(5 * time.Second)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("callbacks ran at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("callbacks ran at %v, want %v", got, want)
		}
	}
	if now := c.Now().Sub(start); now != 5*time.Second {
		t.Fatalf("clock reads +%v, want +5s", now)
	}
	if c.Pending() != 0 {
		t.Fatalf("%d callbacks still pending", c.Pending())
	}
}

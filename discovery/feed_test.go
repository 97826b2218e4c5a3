package discovery_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/discovery"
)

func in(ids ...string) []discovery.Instance {
	list := make([]discovery.Instance, len(ids))
	for i, id := range ids {
		list[i] = discovery.Instance{ID: id, Service: "s", Addr: "h:1"}
	}
	return list
}

func idsOf(list []discovery.Instance) []string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.ID
	}
	return out
}

// pending returns the update waiting in w, if any, without blocking.
func pending(w discovery.Watch) (discovery.Update, bool) {
	select {
	case u, ok := <-w.Updates():
		return u, ok
	default:
		return discovery.Update{}, false
	}
}

func mustPending(t *testing.T, w discovery.Watch) discovery.Update {
	t.Helper()
	u, ok := pending(w)
	if !ok {
		t.Fatal("no update waiting")
	}
	return u
}

func mustNone(t *testing.T, w discovery.Watch) {
	t.Helper()
	if u, ok := pending(w); ok {
		t.Fatalf("unexpected update %v err=%v", idsOf(u.Instances), u.Err)
	}
}

func wantIDs(t *testing.T, u discovery.Update, err error, ids ...string) {
	t.Helper()
	if got := idsOf(u.Instances); !slices.Equal(got, ids) || !errors.Is(u.Err, err) || (err == nil) != (u.Err == nil) {
		t.Fatalf("update %v err=%v, want %v err=%v", got, u.Err, ids, err)
	}
}

func TestFeedFirstUpdate(t *testing.T) {
	var f discovery.Feed
	if _, ok := f.Current(); ok {
		t.Fatal("zero Feed reports a current update")
	}
	early := f.Watch(nil)
	defer early.Stop()
	mustNone(t, early)
	f.Publish(nil)
	wantIDs(t, mustPending(t, early), nil)
	f.Publish(in("b", "a"))
	wantIDs(t, mustPending(t, early), nil, "a", "b")
	late := f.Watch(nil)
	defer late.Stop()
	wantIDs(t, mustPending(t, late), nil, "a", "b")
	if u, ok := f.Current(); !ok {
		t.Fatal("Current reports no update after Publish")
	} else {
		wantIDs(t, u, nil, "a", "b")
	}
}

// A reader that falls behind skips to the newest update, and the feed
// never blocks on it.
func TestFeedConflation(t *testing.T) {
	var f discovery.Feed
	w := f.Watch(nil)
	defer w.Stop()
	for i := range 100 {
		f.Publish(in(fmt.Sprintf("i%03d", i)))
	}
	wantIDs(t, mustPending(t, w), nil, "i099")
	mustNone(t, w)
	f.Fail(errors.New("boom"))
	f.Publish(in("x"))
	wantIDs(t, mustPending(t, w), nil, "x")
	mustNone(t, w)
}

func TestFeedLastKnownGoodOnFail(t *testing.T) {
	errA, errB := errors.New("registry down"), errors.New("still down")

	t.Run("after a list", func(t *testing.T) {
		var f discovery.Feed
		w := f.Watch(nil)
		defer w.Stop()
		f.Publish(in("a", "b"))
		mustPending(t, w)
		f.Fail(errA)
		wantIDs(t, mustPending(t, w), errA, "a", "b")
		f.Fail(errB)
		wantIDs(t, mustPending(t, w), errB, "a", "b")
		f.Fail(nil) // ignored
		mustNone(t, w)
		// The same list again still clears the error.
		f.Publish(in("b", "a"))
		wantIDs(t, mustPending(t, w), nil, "a", "b")
		f.Fail(errA)
		f.Publish(in("c"))
		wantIDs(t, mustPending(t, w), nil, "c")
	})

	t.Run("before any list", func(t *testing.T) {
		var f discovery.Feed
		f.Fail(errA)
		w := f.Watch(nil)
		defer w.Stop()
		u := mustPending(t, w)
		wantIDs(t, u, errA)
		f.Publish(nil)
		wantIDs(t, mustPending(t, w), nil)
	})
}

func TestFeedPublishSortsCopiesAndDedupes(t *testing.T) {
	var f discovery.Feed
	w := f.Watch(nil)
	defer w.Stop()
	list := in("c", "a", "b", "a")
	list[1].Addr = "first:1"
	list[3].Addr = "last:1"
	f.Publish(list)
	u := mustPending(t, w)
	wantIDs(t, u, nil, "a", "b", "c")
	if u.Instances[0].Addr != "last:1" {
		t.Errorf("duplicate ID kept %q, want the last one", u.Instances[0].Addr)
	}
	list[0].ID = "mutated"
	if cur, _ := f.Current(); cur.Instances[2].ID != "c" {
		t.Error("Publish did not copy its argument")
	}
}

func TestFeedEqualSetDoesNotNotify(t *testing.T) {
	var f discovery.Feed
	w := f.Watch(nil)
	defer w.Stop()
	f.Publish(in("a", "b"))
	mustPending(t, w)
	f.Publish(in("b", "a"))
	mustNone(t, w)
	f.Publish(in("a", "b", "b"))
	mustNone(t, w)
	changed := in("a", "b")
	changed[1].Meta = map[string]string{"k": "v"}
	f.Publish(changed)
	wantIDs(t, mustPending(t, w), nil, "a", "b")
	f.Publish(nil)
	wantIDs(t, mustPending(t, w), nil)
	f.Publish([]discovery.Instance{})
	mustNone(t, w)
}

// closedAfterDrain reports whether w's channel is closed once any waiting
// update has been read.
func closedAfterDrain(w discovery.Watch) bool {
	for range 2 {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return true
			}
		default:
			return false
		}
	}
	return false
}

func TestFeedClose(t *testing.T) {
	var f discovery.Feed
	f.Publish(in("a"))
	stops := make([]int, 3)
	var ws []discovery.Watch
	for i := range stops {
		ws = append(ws, f.Watch(func() { stops[i]++ }))
	}
	if n := f.Watchers(); n != 3 {
		t.Fatalf("Watchers() = %d, want 3", n)
	}
	f.Close()
	for i, w := range ws {
		if !closedAfterDrain(w) {
			t.Errorf("watch %d not closed by Close", i)
		}
		w.Stop() // harmless
	}
	if !slices.Equal(stops, []int{1, 1, 1}) {
		t.Errorf("onStop ran %v times, want once each", stops)
	}
	if n := f.Watchers(); n != 0 {
		t.Errorf("Watchers() = %d after Close", n)
	}
	f.Publish(in("b"))
	f.Fail(errors.New("x"))
	if u, _ := f.Current(); !slices.Equal(idsOf(u.Instances), []string{"a"}) || u.Err != nil {
		t.Errorf("Publish or Fail changed a closed feed: %v %v", idsOf(u.Instances), u.Err)
	}
	ran := 0
	w := f.Watch(func() { ran++ })
	if !closedAfterDrain(w) || ran != 1 {
		t.Errorf("watch on a closed feed: closed=%v, onStop ran %d times; want closed and once", closedAfterDrain(w), ran)
	}
	w.Stop()
	if ran != 1 {
		t.Errorf("onStop ran %d times after a second Stop", ran)
	}
	f.Close() // harmless
}

func TestFeedStop(t *testing.T) {
	var f discovery.Feed
	stopped := 0
	a := f.Watch(func() {
		stopped++
		// onStop runs without the feed's lock: calling back is fine.
		if n := f.Watchers(); n != 1 {
			t.Errorf("Watchers() = %d inside onStop, want 1", n)
		}
	})
	b := f.Watch(nil)
	defer b.Stop()
	f.Publish(in("a"))
	a.Stop()
	a.Stop()
	if stopped != 1 {
		t.Fatalf("onStop ran %d times, want 1", stopped)
	}
	if !closedAfterDrain(a) {
		t.Fatal("Stop did not close the channel")
	}
	f.Publish(in("b"))
	wantIDs(t, mustPending(t, b), nil, "b")
}

// A watch whose onStop closes its own feed, as static's watches do.
func TestFeedOnStopClosesFeed(t *testing.T) {
	f := new(discovery.Feed)
	w := f.Watch(f.Close)
	w.Stop()
	if !closedAfterDrain(w) {
		t.Fatal("channel not closed")
	}
	if w2 := f.Watch(nil); !closedAfterDrain(w2) {
		t.Fatal("feed not closed by onStop")
	}
}

// Many publishers, failers and readers at once, for the race detector;
// every update a reader sees is sorted, and once the writers are done
// every live reader converges on the final list.
func TestFeedConcurrent(t *testing.T) {
	var f discovery.Feed
	const readers = 8
	var wg sync.WaitGroup
	ws := make([]discovery.Watch, readers)
	last := make([]discovery.Update, readers) // each written by its reader only
	for i := range ws {
		ws[i] = f.Watch(nil)
	}
	for i := range readers {
		wg.Go(func() {
			for u := range ws[i].Updates() {
				last[i] = u
				if !slices.IsSortedFunc(u.Instances, func(a, b discovery.Instance) int {
					return cmpID(a.ID, b.ID)
				}) {
					t.Errorf("unsorted update %v", idsOf(u.Instances))
				}
			}
		})
	}
	var writers sync.WaitGroup
	for p := range 4 {
		writers.Go(func() {
			for i := range 200 {
				if i%10 == 0 {
					f.Fail(errors.New("blip"))
				}
				f.Publish(in(fmt.Sprint(p), fmt.Sprint(i%7), "z"))
				_ = f.Watchers()
			}
		})
	}
	// Watches come and go while the writers run.
	writers.Go(func() {
		for range 100 {
			w := f.Watch(nil)
			pending(w)
			w.Stop()
		}
	})
	writers.Wait()
	f.Publish(in("final"))
	for i, w := range ws {
		if i%2 == 0 {
			w.Stop()
		}
	}
	cur, _ := f.Current()
	wantIDs(t, cur, nil, "final")
	f.Close()
	wg.Wait()
	// A closed channel still yields its buffered update first, so the
	// readers that were not stopped end on the final list.
	for i := 1; i < readers; i += 2 {
		wantIDs(t, last[i], nil, "final")
	}
}

func cmpID(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

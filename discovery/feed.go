package discovery

import (
	"slices"
	"sync"
)

// Feed fans the snapshots of one service out to any number of watches. It
// is the building block every backend uses to honour the [Watch] contract:
// complete snapshots, last known good on error, conflated delivery.
//
// The zero value is ready to use. A Feed is safe for concurrent use.
type Feed struct {
	mu     sync.Mutex // guards cur, seen, subs and closed
	cur    Update
	seen   bool // a first snapshot or error has been published
	subs   map[*feedWatch]struct{}
	closed bool
}

// Publish replaces the service's instance list with list and clears any
// error. list is copied and sorted by ID; duplicate IDs keep the last one.
// Watches are notified only if the list or the error state changed.
func (f *Feed) Publish(list []Instance) {
	snap := make([]Instance, 0, len(list))
	snap = append(snap, list...)
	slices.SortStableFunc(snap, func(a, b Instance) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	// Keep the last of each run of equal IDs.
	out := snap[:0]
	for i := range snap {
		if i+1 < len(snap) && snap[i+1].ID == snap[i].ID {
			continue
		}
		out = append(out, snap[i])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if f.seen && f.cur.Err == nil && EqualSets(f.cur.Instances, out) {
		return
	}
	f.cur = Update{Instances: out}
	f.seen = true
	f.broadcastLocked()
}

// Fail records that the registry could not be read. Watches receive the
// last known good list with err beside it; a feed that never had a list
// delivers an empty one with err. A nil err is ignored.
func (f *Feed) Fail(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.cur = Update{Instances: f.cur.Instances, Err: err}
	f.seen = true
	f.broadcastLocked()
}

// Current returns the newest update and whether there has been one.
func (f *Feed) Current() (Update, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur, f.seen
}

// Watch returns a new watch on the feed. It delivers the current update at
// once if there is one. onStop, if non-nil, runs once when the watch is
// stopped (by its Stop or by [Feed.Close]), after it has been detached from
// the feed and without the feed's lock held. A watch on a closed feed is
// born stopped: its channel is closed and onStop has run before Watch
// returns.
func (f *Feed) Watch(onStop func()) Watch {
	w := &feedWatch{feed: f, ch: make(chan Update, 1), onStop: onStop}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		// w is not shared yet, so its fields need no lock.
		w.stopped = true
		close(w.ch)
		if onStop != nil {
			onStop()
		}
		return w
	}
	if f.subs == nil {
		f.subs = make(map[*feedWatch]struct{})
	}
	f.subs[w] = struct{}{}
	if f.seen {
		w.ch <- f.cur
	}
	f.mu.Unlock()
	return w
}

// Watchers returns the number of live watches.
func (f *Feed) Watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close stops every watch and makes later Publish and Fail calls no-ops.
func (f *Feed) Close() {
	f.mu.Lock()
	subs := f.subs
	f.subs = nil
	f.closed = true
	for w := range subs {
		w.stopped = true
		close(w.ch)
	}
	f.mu.Unlock()
	for w := range subs {
		if w.onStop != nil {
			w.onStop()
		}
	}
}

// broadcastLocked hands the current update to every watch, replacing any
// update a watch has not read yet. f.mu is held, so the feed is the only
// sender on each channel and the drain-then-send never blocks.
func (f *Feed) broadcastLocked() {
	for w := range f.subs {
		select {
		case <-w.ch:
		default:
		}
		w.ch <- f.cur
	}
}

type feedWatch struct {
	feed    *Feed
	ch      chan Update
	onStop  func()
	stopped bool // guarded by feed.mu
}

func (w *feedWatch) Updates() <-chan Update { return w.ch }

func (w *feedWatch) Stop() {
	f := w.feed
	f.mu.Lock()
	if w.stopped {
		f.mu.Unlock()
		return
	}
	w.stopped = true
	delete(f.subs, w)
	close(w.ch)
	f.mu.Unlock()
	if w.onStop != nil {
		w.onStop()
	}
}

package discoverytest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
)

// ErrClosed is reported by [Next] when the watch's channel closes before an
// update matched.
var ErrClosed = errors.New("discoverytest: updates channel closed")

// ErrTimeout is reported by [Next] when no update matched in time.
var ErrTimeout = errors.New("discoverytest: no matching update in time")

// Next reads w's updates until match accepts one, and returns it. It gives
// up after timeout of wall-clock time with [ErrTimeout] (returning the last
// update read, if any), or when the channel closes with [ErrClosed].
// A timeout of zero or less only reads what is already waiting. A nil match
// accepts any update.
func Next(w discovery.Watch, timeout time.Duration, match func(discovery.Update) bool) (discovery.Update, error) {
	var last discovery.Update
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		var u discovery.Update
		var ok bool
		if timer == nil {
			select {
			case u, ok = <-w.Updates():
			default:
				return last, ErrTimeout
			}
		} else {
			select {
			case u, ok = <-w.Updates():
			case <-timer:
				return last, ErrTimeout
			}
		}
		if !ok {
			return last, ErrClosed
		}
		last = u
		if match == nil || match(u) {
			return u, nil
		}
	}
}

// WaitFor is [Next] for tests: it returns the first update that match
// accepts, and fails t with a description of the last update seen if none
// does within timeout or the channel closes. Call it from the test's own
// goroutine.
func WaitFor(t testing.TB, w discovery.Watch, timeout time.Duration, match func(discovery.Update) bool) discovery.Update {
	t.Helper()
	u, err := Next(w, timeout, match)
	if err != nil {
		t.Fatalf("%v after %v; last update: %s", err, timeout, Describe(u))
	}
	return u
}

// CheckUpdate reports how u breaks the [discovery.Update] contract for
// service, or nil: instances sorted by ID with no ID twice, every one of
// them of service and valid.
func CheckUpdate(service string, u discovery.Update) error {
	for i, inst := range u.Instances {
		if inst.Service != service {
			return fmt.Errorf("instance %q belongs to service %q in an update for %q", inst.ID, inst.Service, service)
		}
		if err := inst.Validate(); err != nil {
			return fmt.Errorf("instance %q is invalid: %w", inst.ID, err)
		}
		if i > 0 && u.Instances[i-1].ID >= inst.ID {
			return fmt.Errorf("instances not sorted by unique ID: %q then %q", u.Instances[i-1].ID, inst.ID)
		}
	}
	return nil
}

// HasIDs returns a predicate accepting an update with a nil Err whose
// instances have exactly the given IDs, in any order of ids.
func HasIDs(ids ...string) func(discovery.Update) bool {
	return func(u discovery.Update) bool {
		if u.Err != nil || len(u.Instances) != len(ids) {
			return false
		}
		for _, id := range ids {
			found := false
			for _, inst := range u.Instances {
				if inst.ID == id {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// Describe renders u compactly for failure messages: "[id@addr ...] err=...".
func Describe(u discovery.Update) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, inst := range u.Instances {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(inst.ID)
		b.WriteByte('@')
		b.WriteString(inst.Addr)
	}
	b.WriteByte(']')
	if u.Err != nil {
		b.WriteString(" err=")
		b.WriteString(u.Err.Error())
	}
	return b.String()
}

package discoverytest

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
)

// Harness describes a backend to [Run]. Only Setup is required; every
// duration has a default, documented on its field.
//
// A Harness is read by Run only; it is not modified.
type Harness struct {
	// Setup prepares an empty registry for one subtest and returns the
	// controls that drive it. Run calls it once at the start of every
	// subtest, with that subtest's t. Release everything it starts
	// (servers, clients, registrars, resolvers) with t.Cleanup: the
	// suite checks for leaked goroutines after the cleanups have run.
	//
	// "Empty" may mean a fresh server, or a fresh namespace (a key
	// prefix) on a server shared between subtests: the suite never looks
	// outside what the Backend shows it.
	Setup func(t *testing.T) Backend

	// TTL is the time-to-live the suite asks registrars for. Zero means
	// 2s. Pick the smallest TTL the backend honours (etcd rounds leases
	// up to whole seconds and to its minimum TTL).
	TTL time.Duration

	// Slack is how much later than TTL a killed registration may leave
	// the watches, delivery included. Zero means 1s.
	Slack time.Duration

	// Wait bounds, in wall-clock time, how long the suite waits for an
	// update that needs no registry time to pass: a first snapshot, a
	// registration or deregistration reaching watchers, the closing of a
	// stopped watch's channel. It is also added to every budget below
	// as delivery allowance, except the TTL expiry check. Zero means 5s.
	Wait time.Duration

	// Heal is how long, on the backend's clock, a registrar may take to
	// put its registrations back after the registry has recovered (from
	// an outage, or from a restart that wiped it). Zero means
	// 2*TTL + Slack.
	Heal time.Duration

	// Match reports whether got, delivered by a watch, is the delivered
	// form of want, which the suite registered. nil means
	// want.Equal(got): every field survives the round trip. A backend
	// that stores less (DNS keeps an address and a weight) supplies its
	// own comparison.
	Match func(want, got discovery.Instance) bool

	// Bubble runs each case inside a testing/synctest bubble (the goleak
	// check stays outside it), so that a backend whose timers are Go's
	// own (time.AfterFunc, time.Sleep, context deadlines) runs on the
	// bubble's fake clock: TTLs, renewals and healing take no wall-clock
	// time and expiry is exact, so Slack can be small. Everything the
	// backend starts must then belong to the case: a goroutine still
	// blocked when the case ends is reported as a leak. Leave it false
	// for a backend that does real I/O (a server, a socket), where a
	// bubble's clock would not move while a goroutine waits on the
	// network.
	Bubble bool

	// LeakOptions are passed to goleak to ignore goroutines that the
	// backend's dependencies leave behind by design (gRPC's or an
	// embedded server's background goroutines, for instance), e.g.
	// goleak.IgnoreTopFunction("go.etcd.io/...").
	LeakOptions []goleak.Option
}

// Backend holds the controls of one registry, made by [Harness.Setup] for
// one subtest. NewResolver is required; every other field is optional,
// and a nil field skips (with t.Skip) the cases that need it:
//
//	field             cases that need it
//	NewRegistrar      every case that registers
//	KillRegistrar     Renewal, Expiry, RegisterDuringOutage,
//	                  DeregisterDuringOutage, HealAfterWipe
//	Outage, Recover   LastKnownGoodDuringOutage, RegisterDuringOutage,
//	                  DeregisterDuringOutage, HealAfterWipe
//	NewFixedResolver  FixedSnapshot
//
// The functions are called from the subtest's goroutine only.
type Backend struct {
	// NewResolver returns a resolver over the registry. Required. The
	// suite may call it more than once per subtest (two clients of one
	// registry); it never closes what it gets: release it with t.Cleanup
	// from Setup.
	NewResolver func() discovery.Resolver

	// NewFixedResolver, for backends whose instances are configured
	// rather than registered (static, or DNS records written by the
	// test), returns a resolver that serves exactly list. list may mix
	// services and is not sorted.
	NewFixedResolver func(list []discovery.Instance) discovery.Resolver

	// NewRegistrar returns a registrar whose registrations live ttl
	// without renewal. It must renew them at least every ttl/3 (etcd's
	// KeepAlive does) and must not be closed by the suite: release it
	// with t.Cleanup from Setup. nil: the backend has no registrar.
	NewRegistrar func(ttl time.Duration) discovery.Registrar

	// KillRegistrar stops g (a value NewRegistrar returned) from renewing
	// anything, without deregistering, as a crash would: its
	// registrations must leave after their TTL. Set it only if
	// registrations live on a TTL and heal themselves after the
	// registry loses them; the cases that test healing need it too.
	KillRegistrar func(g discovery.Registrar)

	// Outage makes the registry unreachable for every registrar and
	// resolver of this Backend (stop the server, drop its answers). It
	// returns at once; the watches must then report an error within TTL
	// of registry time (plus Wait on a real-time backend). Set Outage
	// and Recover together.
	Outage func()

	// Recover ends the outage. With wipe, the registry comes back having
	// lost every registration, as a registry restarted on an empty data
	// directory would. Clients must reconnect on their own.
	Recover func(wipe bool)
}

func (h Harness) withDefaults() Harness {
	if h.TTL <= 0 {
		h.TTL = 2 * time.Second
	}
	if h.Slack <= 0 {
		h.Slack = time.Second
	}
	if h.Wait <= 0 {
		h.Wait = 5 * time.Second
	}
	if h.Heal <= 0 {
		h.Heal = 2*h.TTL + h.Slack
	}
	if h.Match == nil {
		h.Match = func(want, got discovery.Instance) bool { return want.Equal(got) }
	}
	return h
}

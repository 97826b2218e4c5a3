// Package discoverytest is the conformance suite that every discovery
// backend passes, so that code written against discovery.Resolver and
// discovery.Registrar behaves the same on memory, static, etcd or DNS.
//
// A backend's test describes the backend in a [Harness] and calls [Run]:
//
//	func TestConformance(t *testing.T) {
//		discoverytest.Run(t, discoverytest.Harness{
//			TTL:   2 * time.Second, // the smallest TTL the engine honours
//			Slack: time.Second,
//			Setup: func(t *testing.T) discoverytest.Backend {
//				srv := startServer(t)     // stopped with t.Cleanup
//				return discoverytest.Backend{
//					NewResolver:   func() discovery.Resolver { ... },
//					NewRegistrar:  func(ttl time.Duration) discovery.Registrar { ... },
//					KillRegistrar: func(g discovery.Registrar) { g.(*mine.Registrar).Kill() },
//					Outage:        srv.Stop,
//					Recover:       func(wipe bool) { srv.Restart(t, wipe) },
//				}
//			},
//		})
//	}
//
// Setup is called once per case, so each case starts on an empty registry;
// everything Setup starts must be released with t.Cleanup. Fields of
// [Backend] left nil switch off the cases that need them: a resolver-only
// backend (static, DNS) sets NewResolver and NewFixedResolver and runs
// only the cases that do not register.
//
// # Time
//
// The suite never assumes instant delivery. It reads updates with a
// timeout ([Harness.Wait]) and, where registry time must pass (TTLs,
// renewals, healing), sleeps in steps, checking the watches between steps,
// and measures latencies with time.Now. A backend whose timers are Go's
// own (memory) sets [Harness.Bubble]: each case then runs inside a
// testing/synctest bubble, where sleeping costs no wall-clock time and
// expiry is exact, so the whole suite runs in well under a second. A real
// engine (etcd, a DNS server) runs on the wall clock. Registrars must
// renew at least every TTL/3.
//
// # Cases
//
// Every case is a subtest named below. Each update a case reads is checked
// with [CheckUpdate] (sorted by unique ID, every instance of the watched
// service and valid), and each case ends with goleak checking that no
// goroutine it started survives its cleanups ([Harness.LeakOptions] lists
// the backend's known exceptions).
//
// Outside an outage, an update may still carry an error (a client request
// timing out on a loaded machine) provided its list is right: while a case
// watches for changes that must not happen it checks lists only, and where
// it needs the registry's answer it waits for an update without error.
//
//   - WatchArgs: Watch refuses an empty service name (ErrNoService) and an
//     ended context.
//   - FirstUpdateEmpty: a service with no instances gets a first update at
//     once: an empty list, no error.
//   - FixedSnapshot: a fixed resolver serves each service its own sorted
//     instances; services whose names share a prefix stay apart.
//   - RegisterSeen: a registration reaches watches started before and after
//     it and through a second resolver, every field intact
//     ([Harness.Match]).
//   - DeregisterSeen: a deregistration reaches every watch.
//   - ReRegisterReplaces: registering an ID again replaces its fields.
//   - CompleteSortedSnapshots: each update is the complete list, never a
//     delta.
//   - ServicesIndependent: "cat", "catalog" and "orders" never see each
//     other's instances.
//   - WatchOutlivesContext: the ctx passed to Watch bounds the call only.
//   - StopClosesUpdates: Stop closes the channel, is idempotent, and leaves
//     other watches of the service working.
//   - StopReleasesGoroutines: stopped watches leave no goroutine while
//     their resolver stays open.
//   - Renewal: a live registrar keeps its instance for 3×TTL.
//   - Expiry: a killed registrar's instance is still there TTL/3 after the
//     kill and gone within TTL + Slack; others stay.
//   - LastKnownGoodDuringOutage: during an outage longer than the TTL the
//     watch reports the error within TTL, beside the last known good list,
//     and never sends an update without the error or with another list;
//     after recovery the list and a nil error return within Heal, with no
//     call from the application. A registrar implementing
//     discovery.StateReporter (with KillRegistrar set) must report an
//     error by TTL + 2×Slack into the outage, and nil again within Heal of
//     the recovery.
//   - HealAfterWipe: after the registry comes back empty, registrars put
//     their registrations back within Heal, and a watch that lived through
//     the wipe (whether or not it saw the registry blink) follows the
//     changes made afterwards: it must not stay bound to the erased
//     history (an etcd watch resumed from a revision the new server has
//     not reached, for instance).
//   - RegisterDuringOutage: a Register made during an outage may fail but
//     takes effect after recovery.
//   - DeregisterDuringOutage: a Deregister made during an outage may fail
//     but the instance is gone after recovery (within Heal + TTL + Slack)
//     and stays gone.
//
// The helpers [Next], [WaitFor], [CheckUpdate], [HasIDs] and [Describe]
// are exported for backends' own tests.
package discoverytest

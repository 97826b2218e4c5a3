// Package launcher runs the whole example shop from one command,
// "ecommerce up": an embedded single-node etcd as the registry, N replicas
// each of the users, catalog and orders services and one gateway, every one
// of them a child process of the same binary ("ecommerce serve NAME").
//
// # Start
//
// [Run] checks that the gateway's address (--addr) and the registry's
// (--registry-listen) are free and fails at once, naming the flag, if not.
// It starts etcd with its data in <data>/registry and clears the service
// registrations a previous run may have left behind (their leases outlive a
// restart by a few seconds). It then starts the services, waits until the
// registry lists every replica, starts the gateway, waits for its /readyz,
// and prints the storefront, admin and API URLs. Each child writes its log
// to <data>/logs/NAME-N.log.
//
// # Supervision
//
// A child that exits before the shop is ready fails Run with the tail of
// its log. A child that exits afterwards is started again after a pause
// that doubles from 1 s up to 30 s (and resets once the child has run for
// a minute), so "kill -9" of one replica, or the chaos control below, shows
// the rest of the shop riding it out while the replica comes back.
//
// # Stop
//
// When ctx ends, or on SIGINT or SIGTERM, the gateway is stopped first and
// then every service in parallel: each child gets SIGTERM (and drains: it
// fails readiness, deregisters and finishes its requests) and is killed with
// SIGKILL if it has not exited within Config.StopTimeout. A second signal
// kills the remaining children at once. The registry stops last, so that the
// children can deregister. Run then returns nil.
//
// Children run in their own process group, so a Ctrl-C in the terminal
// reaches only the launcher, which stops them in order; on Linux each child
// also asks the kernel for SIGKILL when the launcher dies (Pdeathsig), so a
// launcher killed with SIGKILL leaves no process of the shop behind.
//
// # Chaos control
//
// With Config.Chaos (--chaos) the launcher serves a small control API on a
// free loopback port and registers it in the registry as the service
// [ControlService]. "POST /v1/chaos/kill?service=NAME" kills one running
// replica of NAME (chosen at random) with SIGKILL and answers
// {"service":…,"replica":…,"pid":…}; the supervisor brings it back. The
// loadgen's --chaos mode finds this API through the registry. Without
// --chaos nothing is served.
package launcher

// Package launcher runs the whole example shop from one command,
// "ecommerce up": an embedded single-node etcd as the registry, N replicas
// each of the users, catalog and orders services and one gateway, every one
// of them a child process of the same binary ("ecommerce serve NAME").
//
// # Start
//
// [Run] checks that the gateway's address (--addr) and the registry's
// (--registry-listen) are free and fails at once, naming the flag, if not.
// It sets up mutual TLS (below), starts etcd with its data in
// <data>/registry and clears the service registrations a previous run may
// have left behind (their leases outlive a restart by a few seconds). It
// then starts the services, waits until the registry lists every replica,
// starts the gateway, waits for its /readyz, and prints the storefront,
// admin and API URLs. Each child writes its log to <data>/logs/NAME-N.log.
//
// # Mutual TLS
//
// The shop runs on mutual TLS, always: there is no switch to turn it off
// in "up" (a shop assembled by hand from "registry" and "serve" commands
// without --tls-* flags runs in plain HTTP, and says so in each log). At
// start Run opens the development CA in <data>/pki ([PKIDir], package
// internal/pki), creating it on first start, and makes sure that each of
// users, catalog, orders, gateway, registry, launcher and loadgen has a
// valid certificate for spiffe://shop.internal/NAME there (the directory
// is 0700, every file 0600). Each child is started with --tls-cert,
// --tls-key and --tls-ca naming its own files; the embedded etcd serves
// TLS with the registry's certificate and requires a client certificate
// from the CA; the launcher's own etcd client presents the launcher's and
// accepts only a server holding the registry's identity.
//
// Certificates live [Config.CertLifetime] (24 h by default). While the
// shop runs, a goroutine renews each one when it is past half its life,
// with a fresh key, by replacing its file. Nobody restarts: etcd reads its
// certificate at every handshake, and the children (package mtls) notice
// the new file at a later handshake and use it for new connections.
//
// # HTTPS at the edge
//
// The gateway's public listener is plain HTTP by default, for the browser
// walk-through on loopback. With --public-tls-cert and --public-tls-key
// (both or neither, checked at once) the gateway serves HTTPS with HTTP/2
// and HSTS with those files; with --public-tls-self-signed it does so with
// a self-signed certificate for localhost, 127.0.0.1, ::1 and the host of
// --addr, kept in <data>/pki/public-self-signed.pem and reused while it
// has more than a week to run. The readiness wait and the banner then use
// https:// URLs.
//
// # Files
//
// The data directory and every directory under it are 0700, every file in
// it 0600 (databases, signing key, password and secret files, logs),
// whatever the umask. Before starting anything Run sets exactly those
// modes on whatever it finds otherwise (owner bits included, setuid, setgid
// and sticky cleared), and logs each change.
//
// # Admin account
//
// The users service creates the admin account (--admin-email) itself; the
// launcher decides its password and hands it to the users children without
// ever putting it on a command line, where any local user could read it:
//
//   - with ECOMMERCE_ADMIN_PASSWORD (Config.AdminPassword), the variable is
//     passed on in the environment of the users children only, and not
//     written to disk;
//   - with --admin-password-file F, F is passed on as --admin-password-file;
//   - with neither, the first start generates a password (crypto/rand, 26
//     base32 characters) into <data>/admin-password, mode 0600; later
//     starts reuse it. It is passed on as --admin-password-file.
//
// Giving both is a configuration error. The banner says where the password
// is, never the password. The launcher removes ECOMMERCE_ADMIN_PASSWORD and
// ECOMMERCE_ADMIN_PASSWORD_FILE from the environment of every other child.
//
// # PostgreSQL
//
// With --db (Config.DB) users, catalog and orders keep their data in that
// PostgreSQL database, each in its own schema, instead of their SQLite files
// under the data directory. The URL reaches them as ECOMMERCE_DB in their
// environment, for the same reason as the admin password: it may carry a
// password, and a command line is public. The gateway's environment never
// has it.
//
// # Supervision
//
// A child that exits before the shop is ready fails Run with the tail of
// its log. A child that exits afterwards is started again after a pause
// drawn from the upper half of a step that doubles from 1 s up to 30 s
// (and resets once the child has run for a minute), so "kill -9" of one
// replica, or the chaos control below, shows the rest of the shop riding it
// out while the replica comes back. A restart that fails (the executable
// gone, the log not writable, no process slots) is logged and tried again
// after the next pause, for as long as the launcher runs: a replica is
// never given up on.
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
// With Config.Chaos (--chaos) the launcher serves a small control API over
// mutual TLS on a free loopback port and registers it in the registry as
// the service [ControlService]. "POST /v1/chaos/kill?service=NAME" kills one running
// replica of NAME (chosen at random) with SIGKILL and answers
// {"service":…,"replica":…,"pid":…}; the supervisor brings it back. The
// loadgen's --chaos mode finds this API through the registry. Without
// --chaos nothing is served.
//
// The control API presents the launcher's certificate, so that the loadgen
// can tell it from an impostor registered under its name (any holder of a
// shop certificate may write to the registry), and admits only a client
// presenting the loadgen's certificate ([LoadgenService]): a handshake
// without one fails, and another service's is answered 403. Every request
// must also carry "Authorization: Bearer SECRET", or it is answered 403
// with {"error":{"code":"forbidden",…}}. The secret is new for
// every run (crypto/rand), compared in constant time, and kept only in
// <data>/chaos-secret ([ChaosSecretFile], mode 0600, removed at stop): not
// in the registry, which anyone who reaches etcd can read. So only the
// owner of the data directory can kill replicas; "loadgen --chaos --data
// DIR" reads the secret, and its certificate, from there.
package launcher

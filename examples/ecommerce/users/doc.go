// Package users is the shop's users service: sign-up, login with argon2id
// password hashes, Ed25519-signed tokens (JWT with kid) and the JWKS that
// lets the gateway and the other services verify them.
//
// The package follows go-kit's profilesvc layout: service.go holds the logic
// (no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// routes, store.go the Store interface and its SQLite implementation,
// keys.go the signing key, password.go the password hashing, throttle.go
// and client.go the throttling of failed logins, admin.go the admin
// account, and run.go the wiring that "ecommerce serve users" runs.
//
// # Rules
//
//   - E-mail addresses are trimmed, lower-cased, must parse with net/mail as
//     a bare address and be at most 254 bytes; they are unique.
//   - Passwords are 8 to 1024 characters; names 1 to 100 characters, no
//     control characters.
//   - Every sign-up gets role "user"; a role in the request body is
//     ignored. Nobody becomes admin by signing up: a sign-up with the
//     --admin-email address answers 409 email_taken, even before the
//     admin account exists.
//   - Login answers the same 401 invalid_credentials, after the same KDF
//     work, for an unknown address and for a wrong password.
//   - Tokens live one hour and carry sub, email, role, iss
//     "switchyard-ecommerce", aud "switchyard-ecommerce-api", iat, nbf, exp
//     and jti; their kid is the RFC 7638 thumbprint of the public key.
//
// # The admin account
//
// At every start, before it serves, the service makes sure the account
// with --admin-email exists with role admin and the configured password
// ([EnsureAdmin]). The password comes from the file --admin-password-file
// (ECOMMERCE_ADMIN_PASSWORD_FILE) or, without one, from
// ECOMMERCE_ADMIN_PASSWORD; a password flag would show in process
// listings, so there is none. The file holds the password and at most one
// trailing line ending; it must not be empty, must be at most 4096 bytes
// and must have no permissions for group or others (0600 or 0400): a
// wider file is refused, not used, with an error that says to chmod it.
// With an admin address and no password, or a password that breaks the
// password rules, the service does not start. "ecommerce up" generates the
// password on first start into <data>/admin-password (0600) and passes
// that file.
//
// The configured password is authoritative: when it no longer matches the
// stored hash (the file was changed), the hash is replaced at start, so
// changing the file and restarting changes the admin's password. Tokens
// already issued stay valid until they expire. An ordinary account that
// holds the address (signed up before the address was the admin's) is made
// admin and given the password. Creation is one atomic insert-or-update on
// the unique address, so two replicas starting at once on one database
// make one admin.
//
// # Failed logins
//
// Besides the gateway's per-IP limit (10 logins a second, burst 20), the
// service throttles failed logins per account ([Throttle]). A throttled
// attempt is answered at once, without checking the password, with 429
// login_throttled and Retry-After; the server never sleeps. The client
// address is the connection's peer, unless the peer is a trusted proxy
// ([WithTrustedProxies]; by default loopback, 127.0.0.0/8 and ::1, where
// "ecommerce up" runs the gateway next to the replicas): then it is the
// last X-Forwarded-For element, the one the gateway appends. A caller that
// reaches a replica without the gateway therefore cannot choose its key or
// claim an address the owner used before. IPv6 addresses count per /64
// ([ClientAddr]). The trust is by network address; once the services
// authenticate each other with mutual TLS (issue 11) it becomes a check of
// the caller's identity. Unknown accounts are throttled alike, so a 429
// does not tell whether an account exists. Two budgets, each a growing
// delay:
//
//   - per account and address: 5 failures free, then a delay of 1 s after
//     the 5th, doubling with each further failure (2 s, 4 s, …) up to
//     15 min. From one address that allows 10 failed logins in the first
//     minute, 17 in the first hour, then one every 15 minutes.
//   - per account, all addresses together: 20 failures free, then 1 s,
//     doubling, up to 5 min. From any number of addresses that allows 25
//     failed logins in the first minute, 39 in the first hour, then one
//     every 5 minutes (288 a day).
//
// A key with no failure for an hour is forgotten. A successful login
// clears its address's count and is not counted for the account.
//
// The account budget cannot lock the owner out: an address from which the
// account logged in successfully within 30 days (KnownSourceTTL; kept in
// the database, MaxKnownSources per user) is exempt from it and is held
// only by its own per-address count, so the owner at home or at work gets
// in while an attack from elsewhere goes on. From any other address the
// owner gets in at most 5 minutes after the attacker's last failure,
// however long the attack lasted; an attacker on the owner's own address
// (one NAT, one IPv6 /64) delays that address up to 15 minutes after its
// last failure.
//
// The counts are kept in memory by each replica, which keeps a failed
// login free of database writes: with the shop's two users replicas behind
// the gateway's balancer the numbers above are per replica, and an
// attacker spreading attempts over both gets at most twice them (50 in the
// first minute for an account); a restarted replica starts from zero. Each
// replica tracks at most 100,000 keys per budget, dropping the least
// recently failed first, and keys that are still below their free count
// before those already delayed.
package users

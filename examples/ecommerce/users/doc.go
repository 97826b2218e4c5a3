// Package users is the shop's users service: sign-up, login with argon2id
// password hashes, Ed25519-signed tokens (JWT with kid) and the JWKS that
// lets the gateway and the other services verify them.
//
// The package follows go-kit's profilesvc layout: service.go holds the logic
// (no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// routes, store.go the Store interface and its SQLite implementation,
// keys.go the signing key, password.go the password hashing, and run.go the
// wiring that "ecommerce serve users" runs.
//
// # Rules
//
//   - E-mail addresses are trimmed, lower-cased, must parse with net/mail as
//     a bare address and be at most 254 bytes; they are unique.
//   - Passwords are 8 to 1024 characters; names 1 to 100 characters, no
//     control characters.
//   - The user who signs up with --admin-email gets role "admin"; everybody
//     else "user". A role in the request body is ignored.
//   - Login answers the same 401 invalid_credentials, after the same KDF
//     work, for an unknown address and for a wrong password.
//   - Tokens live one hour and carry sub, email, role, iss
//     "switchyard-ecommerce", aud "switchyard-ecommerce-api", iat, nbf, exp
//     and jti; their kid is the RFC 7638 thumbprint of the public key.
package users

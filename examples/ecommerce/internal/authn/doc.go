// Package authn holds the shop's token rules: the users service signs
// Ed25519 JWTs ([SignToken], [KeyID]), and every other service checks them,
// with [NewValidator] on known keys or a [Verifier] that fetches users'
// keys through discovery. Handlers read the bearer from the request context
// with [UserID], [Email] and [IsAdmin].
package authn

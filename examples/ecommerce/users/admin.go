package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
)

// AdminName is the name of the admin account EnsureAdmin creates.
const AdminName = "Admin"

// EnsureAdmin makes sure the account with email exists, has role admin and
// has password as its password, and returns it. The users service runs it at
// every start, before it serves; opts are the service's (WithArgon2 sets
// the hash cost, WithNow the creation time).
//
// The configured password is authoritative: if the stored hash does not
// verify it (the password was changed), the hash is replaced. An account
// that already has the address with role user (one signed up before the
// address became the admin's) is made admin and given the password; its
// owner loses access, which is the point. When the account is already admin
// with a hash that verifies password, nothing is written.
//
// It is idempotent and safe to run from several replicas on one database at
// once: the write is one atomic insert-or-update on the unique address, so
// there is one admin whatever the interleaving, and every replica's hash
// verifies the same password. Errors are *InvalidError for a bad address or
// a password that breaks the password rules, or the store's.
func EnsureAdmin(ctx context.Context, store Store, email, password string, opts ...Option) (User, error) {
	s := &service{argon: DefaultArgon2, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, fmt.Errorf("users: admin account: %w", err)
	}
	if err := checkPassword(password); err != nil {
		return User{}, fmt.Errorf("users: admin account: %w", err)
	}
	r, err := store.ByEmail(ctx, email)
	switch {
	case err == nil && r.Role == authn.RoleAdmin:
		if ok, verr := VerifyPassword(r.PasswordHash, password); verr == nil && ok {
			return r.User, nil
		}
	case err != nil && !errors.Is(err, ErrNotFound):
		return User{}, fmt.Errorf("users: admin account: %w", err)
	}
	hash, err := s.argon.Hash(password)
	if err != nil {
		return User{}, fmt.Errorf("users: admin account: %w", err)
	}
	r, err = store.PutAdmin(ctx, Record{
		User:         User{ID: ids.New(userIDPrefix), Email: email, Name: AdminName, Role: authn.RoleAdmin},
		PasswordHash: hash,
		CreatedAt:    s.now().UTC(),
	})
	if err != nil {
		return User{}, fmt.Errorf("users: admin account: %w", err)
	}
	return r.User, nil
}

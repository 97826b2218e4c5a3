package users_test

import (
	"fmt"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// Addresses are compared trimmed and lower-cased; display names are refused.
func ExampleNormalizeEmail() {
	for _, in := range []string{" Ann@Example.COM", "Ann <ann@example.com>", "ann"} {
		e, err := users.NormalizeEmail(in)
		fmt.Printf("%q %v\n", e, err)
	}
	// Output:
	// "ann@example.com" <nil>
	// "" email is not a valid e-mail address
	// "" email is not a valid e-mail address
}

// A password hash carries its parameters, so they can be raised later.
func ExampleArgon2Params_Hash() {
	p := users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	h, _ := p.Hash("correct horse")
	ok, _ := users.VerifyPassword(h, "correct horse")
	bad, _ := users.VerifyPassword(h, "wrong horse")
	fmt.Println(h[:28], ok, bad)
	// Output:
	// $argon2id$v=19$m=64,t=1,p=1$ true false
}

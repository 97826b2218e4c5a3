package ids

import "crypto/rand"

// idAlphabet is RFC 4648 base32 in lower case. 256 is a multiple of 32, so
// taking each random byte modulo 32 picks every character with the same
// probability.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// idChars is the number of random characters in an id: 100 bits, so that
// two ids drawn anywhere in the shop's lifetime never collide in practice.
const idChars = 20

// New returns a new opaque id: prefix, "_", and 20 characters of lower-case
// base32 from crypto/rand, e.g. "usr_k3j5v2m7q4w6abxzrbsc" (prefix "usr").
// Callers must not read meaning into the characters after the prefix. It is
// safe for concurrent use.
func New(prefix string) string {
	var b [idChars]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	out := make([]byte, 0, len(prefix)+1+idChars)
	out = append(out, prefix...)
	out = append(out, '_')
	for _, c := range b {
		out = append(out, idAlphabet[c&31])
	}
	return string(out)
}

package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of argon2id password hashing.
type Argon2Params struct {
	// Time is the number of passes over the memory.
	Time uint32
	// MemoryKiB is the memory used per hash, in KiB.
	MemoryKiB uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
}

// DefaultArgon2 follows OWASP's first recommendation for argon2id (Password
// Storage Cheat Sheet): 19 MiB of memory, 2 passes, 1 lane. One hash costs
// 26 to 40 ms of one core on the reference 2-core machine (BenchmarkHashPassword;
// the spread is other load), so two cores verify about 50 logins per second,
// above the 20 per second the shop needs, while an attacker with a stolen
// database pays 19 MiB and 2 passes per guess. The service runs at most
// GOMAXPROCS hashes at once (WithMaxConcurrentHashes), which caps the memory
// a login storm can take at 19 MiB per core.
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// Limits on the parameters a stored hash may name, so that a corrupt or
// hostile hash string cannot make a verification allocate gigabytes or run
// for minutes.
const (
	maxArgon2Time    = 16
	maxArgon2Memory  = 256 * 1024 // KiB
	maxArgon2Threads = 16
	saltLen          = 16
	keyLen           = 32
)

// ErrBadHash is wrapped by the error VerifyPassword returns for a stored
// hash it cannot read.
var ErrBadHash = errors.New("users: malformed password hash")

// Hash returns password hashed with argon2id under p and a fresh 16-byte
// random salt, encoded in the PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. The parameters travel with
// the hash, so raising them later leaves existing hashes verifiable.
func (p Argon2Params) Hash(password string) (string, error) {
	if p.Time == 0 || p.MemoryKiB == 0 || p.Threads == 0 {
		return "", fmt.Errorf("users: argon2 parameters %+v: every field must be positive", p)
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches encoded, a hash written by
// [Argon2Params.Hash], comparing in constant time. A hash it cannot read, or
// whose parameters exceed sane limits (16 passes, 256 MiB, 16 lanes, salt
// and key of 8 to 64 bytes), is an error wrapping ErrBadHash.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parseHash(s string) (p Argon2Params, salt, key []byte, err error) {
	bad := func(why string) (Argon2Params, []byte, []byte, error) {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: %s", ErrBadHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	var seen [3]bool
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return bad("bad parameter " + strconv.Quote(kv))
		}
		switch {
		case k == "m" && !seen[0] && n <= maxArgon2Memory:
			p.MemoryKiB, seen[0] = uint32(n), true
		case k == "t" && !seen[1] && n <= maxArgon2Time:
			p.Time, seen[1] = uint32(n), true
		case k == "p" && !seen[2] && n <= maxArgon2Threads:
			p.Threads, seen[2] = uint8(n), true
		default:
			return bad("bad or out-of-range parameter " + strconv.Quote(kv))
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return bad("missing parameter")
	}
	// argon2 needs at least 8 KiB of memory per lane; below that it
	// silently raises the memory, so reject such hashes as foreign.
	if p.MemoryKiB < 8*uint32(p.Threads) {
		return bad("memory below 8 KiB per lane")
	}
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("bad salt")
	}
	if key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(key) < 8 || len(key) > 64 {
		return bad("bad key")
	}
	return p, salt, key, nil
}

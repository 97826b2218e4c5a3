package users_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

func TestPasswordHash(t *testing.T) {
	h, err := cheap.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || len(strings.Split(h, "$")) != 6 {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if h2, _ := cheap.Hash("correct horse"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if ok, err := users.VerifyPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := users.VerifyPassword(h, "correct horsE"); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	if _, err := (users.Argon2Params{}).Hash("x"); err == nil {
		t.Fatal("zero parameters accepted")
	}
}

func TestVerifyPasswordBadHash(t *testing.T) {
	good, _ := cheap.Hash("pw")
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for name, h := range map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":        "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"version":        "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"huge memory":    "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"huge time":      "$argon2id$v=19$m=64,t=1000000,p=1$" + salt + "$" + key,
		"zero lanes":     "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"too many lanes": "$argon2id$v=19$m=64,t=1,p=255$" + salt + "$" + key,
		"missing t":      "$argon2id$v=19$m=64,p=1$" + salt + "$" + key,
		"repeated m":     "$argon2id$v=19$m=64,m=64,t=1$" + salt + "$" + key,
		"tiny memory":    "$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key,
		"bad salt":       "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key,
		"short salt":     "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"padded key":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "=",
		"extra part":     good + "$x",
	} {
		if _, err := users.VerifyPassword(h, "pw"); !errors.Is(err, users.ErrBadHash) {
			t.Errorf("%s: err = %v, want ErrBadHash", name, err)
		}
	}
}

// FuzzVerifyPassword: no stored string makes verification panic or run
// with parameters beyond the limits.
func FuzzVerifyPassword(f *testing.F) {
	good, _ := cheap.Hash("pw")
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAA", "x")
	f.Add("$argon2id$v=19$m=262144,t=16,p=16$AAAAAAAAAAA$AAAAAAAAAAA", "x")
	f.Add("$$$$$", "")
	f.Fuzz(func(t *testing.T, h, pw string) {
		// The limits allow up to 256 MiB × 16 passes; keep the fuzzer to
		// strings whose cost is small, the rest is covered by the parser
		// rejecting or accepting them without running the KDF.
		if strings.Contains(h, "m=") && !strings.Contains(h, "m=64,") && !strings.Contains(h, "m=8,") {
			return
		}
		ok, err := users.VerifyPassword(h, pw)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
		if err != nil && !errors.Is(err, users.ErrBadHash) {
			t.Fatalf("error %v does not wrap ErrBadHash", err)
		}
	})
}

// BenchmarkHashPassword measures the production cost of one password hash,
// which is also the cost of one login.
func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := users.DefaultArgon2.Hash("correct horse battery staple"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := users.DefaultArgon2.Hash("correct horse battery staple"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkLogin measures a whole login with the production KDF cost:
// lookup, argon2id verification and token signing.
func BenchmarkLogin(b *testing.B) {
	f := newFixture(b, users.WithArgon2(users.DefaultArgon2))
	ctx := context.Background()
	if _, err := f.svc.Signup(ctx, "ann@example.com", "correct horse", "Ann"); err != nil {
		b.Fatal(err)
	}
	login := func(b *testing.B) {
		if _, err := f.svc.Login(ctx, "ann@example.com", "correct horse"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			login(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				login(b)
			}
		})
	})
}

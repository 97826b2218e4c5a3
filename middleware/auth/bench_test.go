package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/auth"
)

func BenchmarkValidate(b *testing.B) {
	keys(b)
	srv := newJWKSServer(b, edKey.public(), ecKey.public())
	jwks, err := auth.NewJWKS(auth.FetchURL(srv.URL, srv.Client()), auth.JWKSConfig{})
	if err != nil {
		b.Fatal(err)
	}
	auth.SetJWKSNow(jwks, func() time.Time { return t0 })
	v := atT0(b, auth.Config{Keys: jwks, Issuer: issuer, Audience: audience})
	ctx := context.Background()
	for _, s := range []signer{edKey, ecKey} {
		tok := sign(b, s, claims(t0), nil)
		if _, err := v.Validate(ctx, tok); err != nil { // warms the JWKS cache
			b.Fatal(err)
		}
		b.Run(s.method.Alg(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.method.Alg()+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Validate(ctx, tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	// What an attacker's garbage costs: rejected before any crypto.
	b.Run("reject-alg-none", func(b *testing.B) {
		none := segment(b, map[string]any{"alg": "none", "kid": "ed-1"}) + "." + segment(b, claims(t0)) + "."
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Validate(ctx, none); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

func BenchmarkHandler(b *testing.B) {
	keys(b)
	v := atT0(b, auth.Config{Keys: auth.StaticKeys(edKey.public()), Issuer: issuer, Audience: audience})
	h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	authz := "Bearer " + sign(b, edKey, claims(t0), nil)
	b.Run("serial", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", authz)
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", authz)
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Error(w.Code)
					return
				}
			}
		})
	})
}

package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/middleware/auth"
)

// FuzzParseToken feeds arbitrary strings to a validator. None may panic,
// and none may validate except the one genuine token in the corpus.
func FuzzParseToken(f *testing.F) {
	keys(f)
	v := atT0(f, auth.Config{Keys: auth.StaticKeys(edKey.public(), ecKey.public()), Issuer: issuer, Audience: audience})
	valid := sign(f, edKey, claims(t0), nil)
	parts := strings.Split(valid, ".")
	none := segment(f, map[string]any{"alg": "none", "kid": "ed-1"}) + "." + parts[1] + "."
	seeds := []string{
		valid,
		sign(f, ecKey, claims(t0), map[string]any{"kid": "ed-1"}),
		none,
		hs256(f, edKey.priv.Public().(ed25519.PublicKey), "ed-1", claims(t0)),
		parts[0] + "." + parts[1],
		parts[0] + ".." + parts[2],
		"", ".", "..", "...", "a.b.c", "eyJ.eyJ.", strings.Repeat("A", 9000),
		segment(f, map[string]any{"alg": "EdDSA", "kid": 7}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": []string{"EdDSA"}}) + "." + parts[1] + "." + parts[2],
		segment(f, map[string]any{"alg": "EdDSA", "kid": "ed-1", "crit": "x"}) + "." + parts[1] + "." + parts[2],
	}
	for _, s := range seeds {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Validate(ctx, tok)
		if err == nil && tok != valid {
			t.Fatalf("validated a token that was never signed: %q → %+v", tok, c)
		}
		if err != nil && c != nil {
			t.Fatal("claims returned with an error")
		}
	})
}

// FuzzJWKS feeds arbitrary documents to ParseJWKS. None may panic; an
// accepted document yields only usable public keys under their own IDs,
// which survive a MarshalJWKS/ParseJWKS round trip.
func FuzzJWKS(f *testing.F) {
	keys(f)
	doc, err := auth.MarshalJWKS(edKey.public(), ecKey.public(), rsaKey.public(), ecP384Key.public())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(doc),
		`{"keys":[]}`, `{"keys":null}`, `{}`, `[]`, `null`, ``,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"AA","y":"AA"}]}`,
		`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AA","d":"AA"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := auth.ParseJWKS(data)
		if err != nil {
			if ks != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		if len(ks) == 0 {
			t.Fatal("accepted a document without keys")
		}
		var list []auth.Key
		for id, k := range ks {
			if id == "" || k.ID != id {
				t.Fatalf("key %q filed under %q", k.ID, id)
			}
			switch p := k.Public.(type) {
			case ed25519.PublicKey:
				if len(p) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key of %d bytes", len(p))
				}
			case *ecdsa.PublicKey:
			case *rsa.PublicKey:
				if p.N.BitLen() < auth.MinRSABits {
					t.Fatalf("RSA key of %d bits", p.N.BitLen())
				}
			default:
				t.Fatalf("unexpected key type %T", k.Public)
			}
			list = append(list, k)
		}
		again, err := auth.MarshalJWKS(list...)
		if err != nil {
			t.Fatalf("accepted keys do not marshal: %v", err)
		}
		back, err := auth.ParseJWKS(again)
		if err != nil || len(back) != len(ks) {
			t.Fatalf("round trip: %d keys, %v", len(back), err)
		}
		for id, k := range ks {
			if back[id].Alg != k.Alg {
				t.Fatalf("alg of %q changed: %q → %q", id, k.Alg, back[id].Alg)
			}
		}
	})
}

// FuzzAuthorizationHeader sends arbitrary Authorization values through the
// HTTP handler. The next handler may run only for "Bearer" (any case),
// spaces, and the genuine token; everything else is a 401.
func FuzzAuthorizationHeader(f *testing.F) {
	keys(f)
	v := atT0(f, auth.Config{Keys: auth.StaticKeys(edKey.public()), Issuer: issuer, Audience: audience})
	valid := sign(f, edKey, claims(t0), nil)
	for _, s := range []string{"Bearer " + valid, "bearer  " + valid, "Bearer", "Bearer ", "Basic x", "Bearer\t" + valid, "Bearer " + valid + " x", ""} {
		f.Add(s)
	}
	reached := false
	h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	f.Fuzz(func(t *testing.T, header string) {
		reached = false
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["Authorization"] = []string{header}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		genuine := len(header) > 7 && strings.EqualFold(header[:7], "bearer ") && strings.TrimLeft(header[7:], " ") == valid
		if reached != genuine {
			t.Fatalf("header %q: next reached %v, want %v", header, reached, genuine)
		}
		if !reached && (w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer")) {
			t.Fatalf("header %q: %d %q", header, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	})
}

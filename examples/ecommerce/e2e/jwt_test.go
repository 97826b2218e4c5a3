package e2e_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Token forging, by hand rather than with a JWT library, so that the tests
// can build tokens a library would refuse to make.

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// signEdDSA returns header.claims signed with key (alg EdDSA).
func signEdDSA(t *testing.T, key ed25519.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	return input + "." + b64(ed25519.Sign(key, []byte(input)))
}

// signHS256 returns header.claims with an HMAC-SHA256 signature under secret.
func signHS256(t *testing.T, secret []byte, header, claims map[string]any) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// unsigned returns header.claims. with an empty signature (alg none).
func unsigned(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	return segment(t, header) + "." + segment(t, claims) + "."
}

// tokenClaims decodes the claims of a token without checking it.
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// withClaims returns token with its claims replaced and its signature kept.
func withClaims(t *testing.T, token string, claims map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	return parts[0] + "." + segment(t, claims) + "." + parts[2]
}

// signingKey reads the users service's Ed25519 key from the data directory
// (users-signing.key, PEM PKCS #8): the tests use it to make tokens that
// are correctly signed but wrong in some other way.
func signingKey(t *testing.T, data string) ed25519.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(data, "users-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("users-signing.key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("users-signing.key holds a %T", k)
	}
	return key
}

// thumbprint is the RFC 7638 key id of an Ed25519 public key.
func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return b64(sum[:])
}

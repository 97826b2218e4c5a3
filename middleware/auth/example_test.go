package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/middleware/auth"
)

// The signing service publishes its public keys as a JWKS document; the
// gateway validates tokens against it.
func Example() {
	// Users service: a signing key and the published JWKS.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwks, _ := auth.MarshalJWKS(auth.Key{ID: "users-2026-03", Alg: "EdDSA", Public: pub})
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	}))
	defer users.Close()
	issue := func(sub string, ttl time.Duration) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"iss": "users", "aud": "gateway", "sub": sub, "exp": time.Now().Add(ttl).Unix(),
		})
		tok.Header["kid"] = "users-2026-03"
		s, _ := tok.SignedString(priv)
		return s
	}

	// Gateway: keys fetched (and cached) from the users service.
	keys, err := auth.NewJWKS(auth.FetchURL(users.URL, nil), auth.JWKSConfig{})
	if err != nil {
		panic(err)
	}
	v, err := auth.New(auth.Config{Keys: keys, Issuer: "users", Audience: "gateway"})
	if err != nil {
		panic(err)
	}
	me := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := auth.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	}))
	gateway := httptest.NewServer(me)
	defer gateway.Close()

	for _, token := range []string{issue("alice", time.Hour), issue("mallory", -time.Hour), ""} {
		req, _ := http.NewRequest(http.MethodGet, gateway.URL+"/api/v1/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		if resp.StatusCode == http.StatusOK {
			fmt.Println()
		}
	}
	fmt.Println("JWKS fetches:", keys.Fetches())
	// Output:
	// 200 "" hello alice
	// 401 "Bearer error=\"invalid_token\"" {"error":{"code":"unauthorized","message":"invalid token"}}
	// 401 "Bearer" {"error":{"code":"unauthorized","message":"missing bearer token"}}
	// JWKS fetches: 1
}

// The endpoint form reads the token that a go-kit ServerBefore function
// (auth.HTTPToContext) or NewTokenContext put in the context. The method
// value v.Endpoint is an endpoint.Middleware; Hooks.OnReject hears why a
// call was refused.
func ExampleValidator_Endpoint() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := auth.New(auth.Config{
		Keys:     auth.StaticKeys(auth.Key{ID: "k1", Public: pub}),
		Issuer:   "users",
		Audience: "orders",
		Required: []string{"sub"},
		Hooks: auth.Hooks{OnReject: func(_ context.Context, err error) {
			fmt.Println("rejected:", err)
		}},
	})
	if err != nil {
		panic(err)
	}
	var mw endpoint.Middleware = v.Endpoint
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "users", "aud": "orders", "sub": "bob", "exp": time.Now().Add(time.Minute).Unix(),
	})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString(priv)

	ep := mw(func(ctx context.Context, req any) (any, error) {
		c, _ := auth.ClaimsFromContext(ctx)
		return "orders of " + c.Subject, nil
	})
	resp, err := ep(auth.NewTokenContext(context.Background(), signed), nil)
	fmt.Println(resp, err)
	_, err = ep(context.Background(), nil)
	fmt.Println(err, err.(*auth.Error).StatusCode())
	// Output:
	// orders of bob <nil>
	// rejected: auth: missing bearer token
	// auth: unauthorized: auth: missing bearer token 401
}

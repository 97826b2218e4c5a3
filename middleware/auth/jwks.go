package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// ErrJWKS is wrapped by the errors [ParseJWKS] and [MarshalJWKS] return.
var ErrJWKS = errors.New("auth: invalid JWKS")

// Limits on a JWKS document.
const (
	// MaxJWKSSize is the largest JWKS document accepted, in bytes.
	MaxJWKSSize = 1 << 20
	// MaxJWKSKeys is the largest number of keys a document may hold.
	MaxJWKSKeys = 100
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
)

// Key is a public verification key with its JWKS metadata.
type Key struct {
	// ID is the key's "kid", which tokens use to name it. Required.
	ID string
	// Alg, if not empty, is the only algorithm the key may verify.
	Alg string
	// Public is an ed25519.PublicKey, an *ecdsa.PublicKey on P-256, P-384
	// or P-521, or an *rsa.PublicKey.
	Public crypto.PublicKey
}

// jwk is the wire form of one key. Private members are decoded only to
// reject documents that carry them.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`

	D  *string `json:"d,omitempty"`
	P  *string `json:"p,omitempty"`
	Q  *string `json:"q,omitempty"`
	DP *string `json:"dp,omitempty"`
	DQ *string `json:"dq,omitempty"`
	QI *string `json:"qi,omitempty"`
	K  *string `json:"k,omitempty"`
}

type jwksDoc struct {
	Keys []json.RawMessage `json:"keys"`
}

// ParseJWKS parses a JWKS document (RFC 7517) into its usable verification
// keys, by "kid".
//
// The document is rejected (an error wrapping [ErrJWKS]) if it is larger
// than [MaxJWKSSize], is not a JSON object with a "keys" array, holds more
// than [MaxJWKSKeys] keys, holds private key material in any key, has two
// usable keys with the same "kid", has a malformed key of a supported
// type (bad base64url, wrong length, a point not on its curve, an RSA
// modulus under [MinRSABits]), has a key whose "alg" does not fit its type,
// or has no usable key at all.
//
// Keys that are merely not for us are skipped: those without "kid", those
// with "use" other than "sig" or "key_ops" without "verify", symmetric
// ("oct") keys — a symmetric key never comes from a published document —
// and key types or curves this package does not support.
func ParseJWKS(data []byte) (map[string]Key, error) {
	if len(data) > MaxJWKSSize {
		return nil, fmt.Errorf("%w: document of %d bytes exceeds %d", ErrJWKS, len(data), MaxJWKSSize)
	}
	var doc jwksDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrJWKS)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no \"keys\" array", ErrJWKS)
	}
	if len(doc.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: %d keys exceed %d", ErrJWKS, len(doc.Keys), MaxJWKSKeys)
	}
	keys := make(map[string]Key, len(doc.Keys))
	for i, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrJWKS, i, err)
		}
		if j.D != nil || j.P != nil || j.Q != nil || j.DP != nil || j.DQ != nil || j.QI != nil || j.K != nil {
			return nil, fmt.Errorf("%w: key %d (%q) carries private or symmetric key material", ErrJWKS, i, j.Kid)
		}
		if j.Kid == "" || !forVerifying(&j) {
			continue
		}
		pub, ok, err := j.publicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrJWKS, j.Kid, err)
		}
		if !ok {
			continue
		}
		if j.Alg != "" && !algFits(j.Alg, pub) {
			return nil, fmt.Errorf("%w: key %q: alg %q does not fit a %s key", ErrJWKS, j.Kid, j.Alg, keyKind(pub))
		}
		if _, dup := keys[j.Kid]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %q", ErrJWKS, j.Kid)
		}
		keys[j.Kid] = Key{ID: j.Kid, Alg: j.Alg, Public: pub}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable verification key", ErrJWKS)
	}
	return keys, nil
}

func forVerifying(j *jwk) bool {
	if j.Use != "" && j.Use != "sig" {
		return false
	}
	if j.KeyOps == nil {
		return true
	}
	for _, op := range j.KeyOps {
		if op == "verify" {
			return true
		}
	}
	return false
}

// b64 decodes strict unpadded base64url, as RFC 7518 requires.
func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b, nil
}

// publicKey decodes j. ok is false for a key type or curve that is not
// supported, which the caller skips.
func (j *jwk) publicKey() (pub crypto.PublicKey, ok bool, err error) {
	switch j.Kty {
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, false, nil
		}
		x, err := b64("x", j.X)
		if err != nil {
			return nil, false, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, false, fmt.Errorf("x: Ed25519 key of %d bytes, want %d", len(x), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), true, nil
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, false, nil
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err := b64("x", j.X)
		if err != nil {
			return nil, false, err
		}
		y, err := b64("y", j.Y)
		if err != nil {
			return nil, false, err
		}
		if len(x) != size || len(y) != size {
			return nil, false, fmt.Errorf("%s coordinates of %d and %d bytes, want %d", j.Crv, len(x), len(y), size)
		}
		point := make([]byte, 0, 1+2*size)
		point = append(point, 4)
		point = append(point, x...)
		point = append(point, y...)
		k, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, false, fmt.Errorf("%s point: %w", j.Crv, err)
		}
		return k, true, nil
	case "RSA":
		n, err := b64("n", j.N)
		if err != nil {
			return nil, false, err
		}
		e, err := b64("e", j.E)
		if err != nil {
			return nil, false, err
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, false, fmt.Errorf("e of %d bytes", len(e))
		}
		var exp int64
		for _, b := range e {
			exp = exp<<8 | int64(b)
		}
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, false, fmt.Errorf("exponent %d", exp)
		}
		mod := new(big.Int).SetBytes(n)
		if mod.BitLen() < MinRSABits {
			return nil, false, fmt.Errorf("modulus of %d bits, want at least %d", mod.BitLen(), MinRSABits)
		}
		if mod.Bit(0) == 0 {
			return nil, false, errors.New("even modulus")
		}
		return &rsa.PublicKey{N: mod, E: int(exp)}, true, nil
	}
	return nil, false, nil
}

// algFits reports whether a token signed with alg can be verified with
// pub. The HMAC algorithms and "none" fit no public key.
func algFits(alg string, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	}
	return false
}

func keyKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "Ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return "RSA"
	}
	return fmt.Sprintf("%T", pub)
}

// MarshalJWKS writes keys as a JWKS document with "use":"sig", for the
// service that signs tokens to publish. Each key needs an ID and a public
// key of a type [ParseJWKS] accepts; private keys are refused, so that a
// signing key cannot be published by mistake.
func MarshalJWKS(keys ...Key) ([]byte, error) {
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	enc := base64.RawURLEncoding.EncodeToString
	for _, k := range keys {
		if k.ID == "" {
			return nil, fmt.Errorf("%w: key without ID", ErrJWKS)
		}
		j := jwk{Kid: k.ID, Use: "sig", Alg: k.Alg}
		switch p := k.Public.(type) {
		case ed25519.PublicKey:
			if len(p) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%w: key %q: Ed25519 key of %d bytes", ErrJWKS, k.ID, len(p))
			}
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(p)
		case *ecdsa.PublicKey:
			b, err := p.Bytes()
			if err != nil {
				return nil, fmt.Errorf("%w: key %q: %w", ErrJWKS, k.ID, err)
			}
			size := (len(b) - 1) / 2
			j.Kty, j.Crv, j.X, j.Y = "EC", p.Curve.Params().Name, enc(b[1:1+size]), enc(b[1+size:])
		case *rsa.PublicKey:
			if p.N.BitLen() < MinRSABits {
				return nil, fmt.Errorf("%w: key %q: RSA modulus of %d bits", ErrJWKS, k.ID, p.N.BitLen())
			}
			j.Kty, j.N, j.E = "RSA", enc(p.N.Bytes()), enc(big.NewInt(int64(p.E)).Bytes())
		default:
			return nil, fmt.Errorf("%w: key %q: unsupported public key type %T", ErrJWKS, k.ID, k.Public)
		}
		if k.Alg != "" && !algFits(k.Alg, k.Public) {
			return nil, fmt.Errorf("%w: key %q: alg %q does not fit a %s key", ErrJWKS, k.ID, k.Alg, keyKind(k.Public))
		}
		out.Keys = append(out.Keys, j)
	}
	return json.Marshal(out)
}

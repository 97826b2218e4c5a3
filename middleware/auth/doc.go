// Package auth validates JSON Web Tokens for HTTP handlers and go-kit
// endpoints, and fetches and caches the signers' public keys from a JWKS
// document. Mutual TLS between services is package mtls's; tokens say
// which user a request is for, certificates which service sent it.
//
// A [Validator] is built by [New] from a [Config] (the key set, issuer and
// audience are required; the zero value of every other field is a
// documented default), and has the faces every Switchyard middleware has:
//
//	v, err := auth.New(auth.Config{Keys: keys, Issuer: "users", Audience: "gateway"})
//	h = v.Handler(h)    // net/http: 401 unless the bearer token is valid
//	ep = v.Endpoint(ep) // go-kit; v.Endpoint is an endpoint.Middleware
//
// Invalid configuration is an error wrapping [ErrConfig] from [New] and
// [NewJWKS]; nothing is clamped and nothing panics.
// [Hooks.OnReject] hears why a request was refused.
//
// # Tokens
//
// A [Validator] accepts a token only if every one of these holds:
//   - it is at most [DefaultMaxTokenSize] bytes ([Config.MaxTokenSize]);
//   - its "alg" is on the validator's allow-list ([Config.Algorithms]) — by
//     default EdDSA and ES256. "none" can never be configured, and the HMAC
//     algorithms (HS256, HS384, HS512) only with a symmetric key from
//     [HMACKey], in which case no asymmetric algorithm may be allowed beside
//     them: a validator checks either signatures or MACs, never both, which
//     rules out the classic confusion of signing an HS256 token with a
//     public key;
//   - it names its key with "kid", and the key set has a key with that ID
//     whose type fits the algorithm (and whose own "alg", if the JWKS gives
//     one, is the token's);
//   - the signature verifies, with strict base64url decoding, and the header
//     has no "crit" member (no extension is understood). Keys named inside
//     the token ("jwk", "jku", "x5u") are ignored;
//   - "iss" equals the configured issuer, "aud" contains the configured
//     audience, "exp" is present and in the future, "nbf" (if present) and
//     "iat" (if present) are not in the future — each within a small leeway,
//     [DefaultLeeway] by default ([Config.Leeway]) and never more than
//     [MaxLeeway];
//   - every claim named in [Config.Required] is present.
//
// The accepted token's claims are returned as [Claims] and put in the
// request context, where [ClaimsFromContext] finds them.
//
// # Keys
//
// [JWKS], built by [NewJWKS] from a [FetchFunc] and a [JWKSConfig], is a
// [KeySet] backed by a JWKS document obtained from the FetchFunc —
// [FetchURL] for a fixed URL, or any function, so that a gateway can fetch
// the document from an instance found through discovery. The parsed keys
// are cached. A token with an unknown "kid" triggers a refetch, at most
// once per [DefaultMinRefreshInterval] (the key may have just been rotated
// in); cached keys older than [DefaultMaxAge] are refetched when next
// used; a failed fetch keeps the keys already known.
// [ParseJWKS] accepts Ed25519 (OKP), ECDSA P-256/P-384/P-521 (EC) and RSA
// keys of at least 2048 bits, and rejects documents with private key
// material; [MarshalJWKS] writes a document for the service that signs.
//
// # HTTP and endpoints
//
// [Validator.Handler] answers 401 with a "WWW-Authenticate: Bearer" header
// and a JSON error body {"error":{"code":"unauthorized","message":...}}
// and never calls the next handler when the token is missing or invalid.
// [Validator.Endpoint] is the same check as endpoint middleware, reading the
// token that [HTTPToContext] (a go-kit RequestFunc, for ServerBefore) or
// [NewTokenContext] put in the context; it fails with an [*Error], which
// carries status 401.
package auth

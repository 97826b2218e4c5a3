package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrInvalid is wrapped by every error about an ID that does not follow
// the SPIFFE ID rules, or a certificate that carries none or several.
var ErrInvalid = errors.New("identity: invalid SPIFFE ID")

// MaxLength is the longest ID accepted, in bytes: the limit SPIFFE sets
// for a URI SAN.
const MaxLength = 2048

// ID is a SPIFFE ID. The zero value names no one; [Parse], [New] and
// [ForService] make valid ones.
type ID struct {
	td   string // trust domain: lower-case letters, digits, '.', '-', '_'
	path string // "" or "/seg/seg", each segment [A-Za-z0-9._-], never "." or ".."
}

// Parse reads a SPIFFE ID such as "spiffe://shop.internal/orders". It is
// strict, as SPIFFE requires: the scheme is "spiffe" in lower case; the
// trust domain is made of lower-case letters, digits, '.', '-' and '_';
// the path, if any, is made of non-empty segments of letters, digits, '.',
// '-' and '_', none of them "." or ".."; there is no port, user, query,
// fragment, percent-encoding or trailing slash; the whole is at most
// [MaxLength] bytes. Any other input is an error wrapping [ErrInvalid].
func Parse(s string) (ID, error) {
	if len(s) > MaxLength {
		return ID{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return ID{}, fmt.Errorf("%w: %q does not start with spiffe://", ErrInvalid, s)
	}
	td, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		td, path = rest[:i], rest[i:]
	}
	if err := checkTrustDomain(td); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
	}
	if err := checkPath(path); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
	}
	return ID{td: td, path: path}, nil
}

// New returns the ID of path in trustDomain. path is "" (the trust
// domain itself) or starts with '/'; both follow the rules of [Parse].
func New(trustDomain, path string) (ID, error) {
	if err := checkTrustDomain(trustDomain); err != nil {
		return ID{}, fmt.Errorf("%w: trust domain %q: %w", ErrInvalid, trustDomain, err)
	}
	if err := checkPath(path); err != nil {
		return ID{}, fmt.Errorf("%w: path %q: %w", ErrInvalid, path, err)
	}
	if len("spiffe://")+len(trustDomain)+len(path) > MaxLength {
		return ID{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	return ID{td: trustDomain, path: path}, nil
}

// ForService returns the ID Switchyard gives the service named service in
// trustDomain: spiffe://<trustDomain>/<service>. service is one path
// segment (letters, digits, '.', '-', '_').
func ForService(trustDomain, service string) (ID, error) {
	if service == "" || strings.Contains(service, "/") {
		return ID{}, fmt.Errorf("%w: service name %q is not one path segment", ErrInvalid, service)
	}
	return New(trustDomain, "/"+service)
}

func checkTrustDomain(td string) error {
	if td == "" {
		return errors.New("empty trust domain")
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("trust domain has %q, allowed are a-z 0-9 . - _", c)
		}
	}
	return nil
}

func checkPath(path string) error {
	if path == "" {
		return nil
	}
	if path[0] != '/' {
		return errors.New("path does not start with '/'")
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		switch seg {
		case "":
			return errors.New("path has an empty segment or a trailing '/'")
		case ".", "..":
			return errors.New("path has a '.' or '..' segment")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return fmt.Errorf("path has %q, allowed are A-Z a-z 0-9 . - _", c)
			}
		}
	}
	return nil
}

// String returns the ID as a URI, "spiffe://td/path", or "" for the zero
// ID.
func (id ID) String() string {
	if id.td == "" {
		return ""
	}
	return "spiffe://" + id.td + id.path
}

// TrustDomain returns the ID's trust domain, "shop.internal" in
// spiffe://shop.internal/orders.
func (id ID) TrustDomain() string { return id.td }

// Path returns the ID's path, "/orders" in spiffe://shop.internal/orders,
// or "" for an ID that names the trust domain itself.
func (id ID) Path() string { return id.path }

// Service returns the service name of an ID made by [ForService] — its
// path without the leading '/' — or "" when the path is not one segment.
func (id ID) Service() string {
	if len(id.path) < 2 || strings.IndexByte(id.path[1:], '/') >= 0 {
		return ""
	}
	return id.path[1:]
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id.td == "" }

// MemberOf reports whether id belongs to trustDomain.
func (id ID) MemberOf(trustDomain string) bool { return id.td != "" && id.td == trustDomain }

// URL returns the ID as a *url.URL, the form x509.Certificate.URIs takes:
// put it there to issue a certificate for id. It returns nil for the zero
// ID.
func (id ID) URL() *url.URL {
	if id.td == "" {
		return nil
	}
	return &url.URL{Scheme: "spiffe", Host: id.td, Path: id.path}
}

// MarshalText returns [ID.String], so that IDs read well in logs and JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses text with [Parse]; empty text is the zero ID.
func (id *ID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*id = ID{}
		return nil
	}
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// FromCertificate returns the SPIFFE ID cert carries: its only URI
// subject alternative name, which must be a valid spiffe:// URI. A
// certificate with no URI SAN, several, or one that is not a SPIFFE ID is
// an error wrapping [ErrInvalid]. It does not verify the certificate:
// call it on certificates a TLS handshake or x509.Certificate.Verify has
// checked.
func FromCertificate(cert *x509.Certificate) (ID, error) {
	if cert == nil {
		return ID{}, fmt.Errorf("%w: no certificate", ErrInvalid)
	}
	switch len(cert.URIs) {
	case 0:
		return ID{}, fmt.Errorf("%w: the certificate of %q has no URI SAN", ErrInvalid, cert.Subject.CommonName)
	case 1:
	default:
		return ID{}, fmt.Errorf("%w: the certificate of %q has %d URI SANs, SPIFFE allows one", ErrInvalid, cert.Subject.CommonName, len(cert.URIs))
	}
	return Parse(cert.URIs[0].String())
}

// FromConnectionState returns the ID of the peer whose certificate the
// handshake described by cs verified, and whether there is one: a
// connection without a client certificate, or whose certificate carries no
// valid SPIFFE ID, has none. Only verified chains count — on the client
// side of a connection made with package mtls's configuration the
// verification is mtls's own and VerifiedChains is empty, so this is for
// servers.
func FromConnectionState(cs *tls.ConnectionState) (ID, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ID{}, false
	}
	id, err := FromCertificate(cs.VerifiedChains[0][0])
	return id, err == nil
}

// FromRequest returns the ID of the client that sent r over a TLS
// connection with a verified client certificate; see
// [FromConnectionState]. Headers are never consulted.
func FromRequest(r *http.Request) (ID, bool) { return FromConnectionState(r.TLS) }

type contextKey struct{}

// NewContext returns a copy of ctx carrying id as the caller's identity.
func NewContext(ctx context.Context, id ID) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the caller's identity put in ctx by [NewContext] (or
// [HTTPToContext]), and whether there is one.
func FromContext(ctx context.Context) (ID, bool) {
	id, ok := ctx.Value(contextKey{}).(ID)
	return id, ok && !id.IsZero()
}

// HTTPToContext puts the identity of r's verified client certificate, if
// any, into ctx. Its signature is go-kit's transport/http RequestFunc, for
// ServerBefore; plain handlers use [FromRequest] or middleware/authz,
// which does the same.
func HTTPToContext(ctx context.Context, r *http.Request) context.Context {
	if id, ok := FromRequest(r); ok {
		return NewContext(ctx, id)
	}
	return ctx
}

package logging

import (
	"log/slog"
	"net/url"
	"strings"
)

// Redacted replaces every secret value in the logs.
const Redacted = "REDACTED"

// sensitiveFragments are the name fragments that mark a header, query
// parameter or attribute as secret. They are matched case-insensitively
// anywhere in the name, which over-redacts a little ("monkey") so as never
// to under-redact ("X-Api-Key", "access_token", "client_secret").
var sensitiveFragments = []string{
	"password", "passwd", "pwd", "secret", "token", "key", "auth",
	"cookie", "session", "signature", "credential", "jwt", "bearer",
}

// Sensitive reports whether a header, query parameter or attribute called
// name carries a secret by the package's rule: its name contains one of
// password, passwd, pwd, secret, token, key, auth, cookie, session,
// signature, credential, jwt or bearer, in any case. Authorization,
// Proxy-Authorization, Cookie and Set-Cookie all match.
func Sensitive(name string) bool { return sensitive(name, nil) }

func sensitive(name string, extra []string) bool {
	lower := strings.ToLower(name)
	for _, f := range sensitiveFragments {
		if strings.Contains(lower, f) {
			return true
		}
	}
	for _, f := range extra {
		if strings.Contains(lower, f) {
			return true
		}
	}
	return false
}

// RedactQuery returns rawQuery with the value of every parameter whose name
// is [Sensitive] replaced by [Redacted]. Parameters keep their order and
// their original encoding. A malformed parameter name is judged on its raw
// form, so a broken escape cannot smuggle a secret past the check.
func RedactQuery(rawQuery string) string { return redactQuery(rawQuery, nil) }

func redactQuery(rawQuery string, extra []string) string {
	if rawQuery == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(rawQuery))
	// Split on ';' as well as '&': some servers treat both as separators,
	// and "a=1;password=x" must not pass as one harmless parameter.
	for rest := rawQuery; ; {
		i := strings.IndexAny(rest, "&;")
		part := rest
		if i >= 0 {
			part = rest[:i]
		}
		name, _, hasValue := strings.Cut(part, "=")
		decoded, err := url.QueryUnescape(name)
		if err != nil {
			decoded = name
		}
		switch {
		case !sensitive(decoded, extra) && !sensitive(name, extra):
			b.WriteString(part)
		case hasValue:
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(Redacted)
		default:
			// A bare "?token..." may be the secret itself.
			b.WriteString(Redacted)
		}
		if i < 0 {
			return b.String()
		}
		b.WriteByte(rest[i])
		rest = rest[i+1:]
	}
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr function that replaces
// the value of every attribute whose key is [Sensitive] by [Redacted], in
// any group. Install it on the handler behind the logger given to
// [Handler] to keep secrets the program logs itself out of the output:
//
//	slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: logging.ReplaceAttr}))
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindGroup && Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

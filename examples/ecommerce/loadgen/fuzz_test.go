package loadgen_test

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

// FuzzTargetValidation holds the loadgen's one safety rule: whatever the
// --target string, a target that passes validation names a loopback host.
func FuzzTargetValidation(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8080", "http://[::1]:8080/", "http://localhost:1", "https://127.8.9.10",
		"http://10.0.0.1", "http://example.com", "http://127.0.0.1.nip.io", "http://0x7f000001",
		"http://[::ffff:127.0.0.1]", "http://127.0.0.1@evil.com", "http://evil.com#@127.0.0.1",
		"http://%31%32%37.0.0.1", "http://[fe80::1%25lo]", "//127.0.0.1", "http:127.0.0.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		c := baseConfig(target)
		if c.Validate() != nil {
			return
		}
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", target, err)
		}
		host := u.Hostname()
		if strings.EqualFold(host, "localhost") {
			return
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Fatalf("accepted %q, whose host %q is not loopback", target, host)
		}
	})
}

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// clearEnv unsets every ECOMMERCE_* variable for the test, so that the
// environment of whoever runs the tests does not change the flags.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ECOMMERCE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestCommandLine(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{"help", []string{"help"}, 0, "ecommerce serve SERVICE"},
		{"help up", []string{"help", "up"}, 0, "$ECOMMERCE_REGISTRY_LISTEN"},
		{"up --help", []string{"--help"}, 0, "--replicas int"},
		{"up --help: admin password file", []string{"up", "--help"}, 0, "--admin-password-file file"},
		{"loadgen --help: data", []string{"loadgen", "--help"}, 0, "$ECOMMERCE_DATA"},
		{"serve gateway --help", []string{"serve", "gateway", "--help"}, 0, "$ECOMMERCE_LOGIN_RATE"},
		{"serve users --help", []string{"serve", "users", "-h"}, 0, "$ECOMMERCE_ADMIN_EMAIL"},
		{"serve --help", []string{"serve", "--help"}, 0, "SERVICE is one of"},
		{"loadgen --help", []string{"loadgen", "--help"}, 0, "--order-share"},
		{"registry --help", []string{"registry", "--help"}, 0, "DIR/registry"},
		{"registry --help: cluster", []string{"registry", "--help"}, 0, "--initial-cluster name=URL,…"},
		{"registry --help: cluster state variable", []string{"registry", "--help"}, 0, "$ECOMMERCE_INITIAL_CLUSTER_STATE"},
		{"unknown command", []string{"dance"}, 2, `unknown command "dance"`},
		{"serve nothing", []string{"serve"}, 2, "serve needs a service"},
		{"serve unknown", []string{"serve", "payments"}, 2, `unknown service "payments"`},
		{"bad flag", []string{"up", "--no-such-flag"}, 2, "flag provided but not defined"},
		{"bad replicas", []string{"up", "--replicas", "0"}, 2, "--replicas (ECOMMERCE_REPLICAS)"},
		{"stray argument", []string{"up", "now"}, 2, `unexpected argument "now"`},
		{"bad registry url", []string{"serve", "orders", "--registry", "http://x"}, 2, "--registry"},
		{"remote loadgen", []string{"loadgen", "--target", "http://192.0.2.7:8080"}, 2, "loopback"},
		{"up --help: public TLS", []string{"up", "--help"}, 0, "--public-tls-self-signed"},
		{"up --help: public TLS variable", []string{"up", "--help"}, 0, "$ECOMMERCE_PUBLIC_TLS_CERT"},
		{"help: mutual TLS", []string{"help"}, 0, "mutual TLS"},
		{"help: PostgreSQL", []string{"help"}, 0, "--db postgres://"},
		{"up --help: db", []string{"up", "--help"}, 0, "$ECOMMERCE_DB"},
		{"serve orders --help: db", []string{"serve", "orders", "--help"}, 0, "--db URL"},
		{"bad db url", []string{"serve", "catalog", "--db", "mysql://u:pw@h/shop"}, 2, "--db (ECOMMERCE_DB)"},
		{"up: bad db url", []string{"up", "--db", "postgres://h:port/shop"}, 2, "--db (ECOMMERCE_DB)"},
		{"public cert without key", []string{"up", "--public-tls-cert", "cert.pem"}, 2, "--public-tls-key (ECOMMERCE_PUBLIC_TLS_KEY) is missing"},
		{"public key without cert", []string{"up", "--public-tls-key", "key.pem"}, 2, "--public-tls-cert (ECOMMERCE_PUBLIC_TLS_CERT) is missing"},
		{"public cert and self-signed", []string{"up", "--public-tls-self-signed", "--public-tls-cert", "c", "--public-tls-key", "k"}, 2, "not both"},
		{"public cert missing", []string{"up", "--public-tls-cert", "/nonexistent/cert.pem", "--public-tls-key", "/nonexistent/key.pem"}, 2, "/nonexistent/cert.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out)
			}
		})
	}
}

func TestAdminPasswordGivenTwice(t *testing.T) {
	clearEnv(t)
	t.Setenv("ECOMMERCE_ADMIN_PASSWORD", "a-password-from-the-env")
	var stdout, stderr bytes.Buffer
	code := run([]string{"up", "--admin-password-file", "pw"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--admin-password-file") || strings.Contains(stderr.String(), "a-password-from-the-env") {
		t.Errorf("exit %d, stderr %s; want 2 naming --admin-password-file, without the password", code, &stderr)
	}
}

func TestCertLifetimeFromEnvironment(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"soon", `ECOMMERCE_CERT_LIFETIME="soon" is not a duration`},
		{"10s", "ECOMMERCE_CERT_LIFETIME=10s must be at least 1m0s"},
	} {
		clearEnv(t)
		t.Setenv("ECOMMERCE_CERT_LIFETIME", tc.value)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"up"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("ECOMMERCE_CERT_LIFETIME=%s: exit %d, stderr %s; want 2 and %q", tc.value, code, &stderr, tc.want)
		}
	}
}

func TestReplicasFromEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("ECOMMERCE_REPLICAS", "99")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"up"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `"99"`) {
		t.Errorf("exit %d, stderr %s; want 2 naming the value from ECOMMERCE_REPLICAS", code, &stderr)
	}
}

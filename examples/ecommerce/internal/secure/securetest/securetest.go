// Package securetest makes the files of the shop's mutual TLS for tests:
// a CA in a temporary directory and, for any service, its certificate and
// key in one file beside ca.pem, laid out as the launcher's development
// CA lays them out, plus the certificates a test needs to be refused
// (expired, from another CA). Every function fails the test on an error.
package securetest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls/mtlstest"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// TrustDomain is the trust domain of the certificates issued here, the
// shop's own.
const TrustDomain = "shop.internal"

// PKI is a throwaway CA and the directory of its files.
type PKI struct {
	CA  *mtlstest.CA
	Dir string
}

// New returns a PKI whose ca.pem is written in a fresh temporary
// directory of t.
func New(t testing.TB, name string) *PKI {
	t.Helper()
	p := &PKI{CA: mtlstest.NewCA(name), Dir: t.TempDir()}
	mtlstest.WriteFile(filepath.Join(p.Dir, "ca.pem"), p.CA.PEM)
	return p
}

// ID returns service's SPIFFE ID in TrustDomain.
func ID(t testing.TB, service string) identity.ID {
	t.Helper()
	id, err := identity.ForService(TrustDomain, service)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Issue writes a certificate for service, valid for a day, into
// <dir>/<service>.pem and returns the files a process of service is given.
func (p *PKI) Issue(t testing.TB, service string) settings.TLSFiles {
	t.Helper()
	return p.write(service, p.CA.Issue(ID(t, service)))
}

// IssueExpired writes a certificate for service that expired a minute ago
// into <dir>/<service>-expired.pem and returns its files.
func (p *PKI) IssueExpired(t testing.TB, service string) settings.TLSFiles {
	t.Helper()
	tmpl := mtlstest.Template(ID(t, service))
	tmpl.NotBefore = time.Now().Add(-2 * time.Hour)
	tmpl.NotAfter = time.Now().Add(-time.Minute)
	return p.write(service+"-expired", p.CA.IssueTemplate(tmpl))
}

// IssueNoID writes a certificate of the CA that carries no SPIFFE ID into
// <dir>/no-id.pem and returns its files.
func (p *PKI) IssueNoID(t testing.TB) settings.TLSFiles {
	t.Helper()
	return p.write("no-id", p.CA.IssueTemplate(mtlstest.Template(identity.ID{})))
}

func (p *PKI) write(name string, leaf *mtlstest.Leaf) settings.TLSFiles {
	f := filepath.Join(p.Dir, name+".pem")
	leaf.Write(f, f)
	return settings.TLSFiles{Cert: f, Key: f, CA: filepath.Join(p.Dir, "ca.pem")}
}

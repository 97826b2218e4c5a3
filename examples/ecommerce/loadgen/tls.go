package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
	"github.com/switchyard/switchyard/mtls"
)

// shopIdentity returns the loadgen's identity in the shop whose data
// directory is data — the certificate "up" issues it in
// DATA/pki/loadgen.pem, with the shop's CA — or nil when there is no such
// file (a shop on plain HTTP, as a build older than mutual TLS ran it).
func shopIdentity(data string) (*mtls.Source, error) {
	f := launcher.IdentityFiles(data, launcher.LoadgenService)
	if _, err := os.Stat(f.Cert); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	src, err := mtls.New(mtls.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA})
	if err != nil {
		return nil, fmt.Errorf("the loadgen's certificate in %s: %w", filepath.Dir(f.Cert), err)
	}
	return src, nil
}

// expecting returns src's client configuration that accepts only a server
// holding service's identity, or nil (plain HTTP) for a nil src.
func expecting(src *mtls.Source, service string) (*tls.Config, error) {
	if src == nil {
		return nil, nil
	}
	id, err := src.ServiceID(service)
	if err != nil {
		return nil, err
	}
	return src.ClientConfig(id), nil
}

// publicTLS returns the TLS configuration for an https:// target: the
// system's roots, and the shop's self-signed certificate
// (DATA/pki/public-self-signed.pem, from "up --public-tls-self-signed")
// when there is one, so that a local try needs no flag to be trusted.
func publicTLS(data string) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if data != "" {
		path := filepath.Join(data, launcher.PKIDir, pki.SelfSignedFile)
		pem, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("loadgen: the shop's self-signed certificate: %w", err)
		case !roots.AppendCertsFromPEM(pem):
			return nil, fmt.Errorf("loadgen: no certificate in %s", path)
		}
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// Package mtls builds the crypto/tls configurations of mutual TLS between
// services that know each other by SPIFFE ID (package identity), from
// certificate, key and trust-bundle files that are rotated while the
// services run.
//
// A [Source], built by [New] from a [Config], holds one workload's
// certificate (whose only URI SAN is its ID, such as
// spiffe://shop.internal/orders), its key and the bundle of CA
// certificates of the trust domain:
//
//	src, err := mtls.New(mtls.Config{CertFile: "svc.pem", KeyFile: "svc.pem", CAFile: "bundle.pem"})
//	srv := &http.Server{Handler: h, TLSConfig: src.ServerConfig()}
//	go srv.ListenAndServeTLS("", "")
//
//	users, _ := src.ServiceID("users")
//	tr := &http.Transport{TLSClientConfig: src.ClientConfig(users)} // one transport per service
//
// # What is checked
//
// A server built on [Source.ServerConfig] requires a client certificate
// ([Config.OptionalClientCert] makes it optional, for probe routes) whose
// chain verifies against the current bundle, that is within its validity
// period and allows client authentication, and whose leaf carries exactly
// one SPIFFE ID, of the trust domain. Any other client fails the
// handshake, so none of its requests reaches a handler; the ID of one
// that passes is identity.FromRequest(r), for middleware/authz to decide
// what it may call.
//
// A client built on [Source.ClientConfig](expect...) accepts a server
// whose chain verifies against the current bundle, that allows server
// authentication, and whose leaf's SPIFFE ID is one of expect (any ID of
// the trust domain when none is given). Host names are not checked: the
// address of an instance comes from a registry that is not trusted, and
// the certificate says who answers. A server that fails is refused during
// the handshake, before a byte of the request is written, with an error
// wrapping [ErrPeer] that outcome.Default counts as the instance's
// failure.
//
// TLS 1.3 is the minimum unless [Config.MinVersion] says 1.2.
//
// # Rotation
//
// Handshakes check the files at most once per [Config.CheckInterval] (10 s
// by default) and reload them when one has changed; [Source.Reload] does
// it at once. There is no goroutine: a source that serves no handshake
// reads nothing. A reload never touches established connections, which
// keep the certificates they were made with; every handshake after it
// uses the new certificate and the new bundle, in the server's and the
// client's configurations alike, so that no configuration has to be
// rebuilt. A reload that fails — a file missing or half-written, a key
// that does not match the certificate, a leaf that does not chain to the
// bundle — keeps what was loaded and reports the error to
// [Hooks.OnReloadError]; the next check tries again.
//
// Write files by renaming a complete file over the old one, and keep the
// certificate and its key in one file (CertFile == KeyFile) so that both
// change in one rename. A CA rotates in three steps, each given time to
// reach every workload: the bundle becomes old and new CA; leaves are
// reissued by the new CA; the bundle becomes the new CA alone.
//
// See docs/mtls.md for running a fleet on it.
package mtls

// Package pki is the example shop's development certificate authority:
// it gives each service a short-lived certificate for its SPIFFE ID,
// spiffe://shop.internal/<service> ([TrustDomain]), renews it while the
// shop runs, and makes the self-signed certificate of
// up --public-tls-self-signed. It is what lets the shop run with mutual
// TLS by default, with nothing to set up; a real deployment gives each
// service its own certificate, key and CA files instead (--tls-cert,
// --tls-key, --tls-ca), from its own PKI or cert-manager.
//
// # Where keys live
//
// [Open] keeps the CA in <data>/pki, a directory of mode 0700 whose files
// are all 0600, like everything under the data directory:
//
//	ca.pem                  the CA certificate: the trust bundle every service loads
//	ca-key.pem              the CA's private key; it never leaves this directory
//	<service>.pem           a service's certificate, then its private key
//	public-self-signed.pem  the public listener's self-signed certificate, then its key
//
// Whoever can read ca-key.pem can pass as any service of the shop; whoever
// can read a <service>.pem can pass as that service until its certificate
// expires. The modes keep both to the shop's owner (and root).
//
// # Lifetimes and renewal
//
// The CA is valid for ten years ([CALifetime]): replacing it is a step
// taken by hand, not automated (below). A service certificate is valid for
// [Config.Lifetime], 24 hours by default, so that a key that leaks is
// worth little for long. [Authority.Run], one goroutine in the launcher,
// issues a certificate again when it is past half its life
// ([Authority.NeedsRenewal]), with a fresh key, and replaces the file with
// one rename; services using package mtls notice the new file at their
// next handshake and use it for new connections, while existing ones go
// on. Renewing at half leaves the other half for a launcher that was
// stopped or a clock that jumped.
//
// # Replacing the CA
//
// Stop the shop, remove <data>/pki and start it again: a new CA is made
// and every service certificate is issued anew by it (a certificate the
// current CA did not sign always needs renewal). Every service restarts
// with the new bundle, so no two CAs ever have to be trusted at once. A
// fleet that must not stop rotates its CA in the three steps that package
// mtls describes instead. [Open] never replaces a CA on its own: if
// either file is missing, corrupt, or the key is not the certificate's,
// it fails and says what to remove.
package pki

package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// renewalLifetime is the certificate lifetime the renewal test asks "up"
// for (ECOMMERCE_CERT_LIFETIME; the launcher's minimum): the development
// CA renews at half of it, 30 s into the run.
const renewalLifetime = time.Minute

// TestCertificateRenewal runs the shop with one-minute certificates and
// keeps reads and orders flowing through the gateway while the launcher
// renews every certificate at half its life: every service serves its new
// certificate on new connections, and not one request fails.
func TestCertificateRenewal(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	s := startShopOnFreePorts(t, filepath.Join(t.TempDir(), "shop-data"),
		"ECOMMERCE_CERT_LIFETIME="+renewalLifetime.String())
	w := &world{shop: s, c: newClient(t, s.base)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*renewalLifetime)
	defer cancel()

	admin := w.logInAdmin(ctx, t)
	w.admin = admin
	p := w.c.createProduct(ctx, t, admin, "Renewal stock", 100, 1_000_000)
	buyer := w.signUp(ctx, t, "renewal@example.com", "Renée")
	before := leafSerial(t, s.pkiFile("catalog.pem"))

	// Callers: two readers and one buyer, each with its own count of
	// requests and failures, until stop.
	var (
		reads, orders, failed atomic.Int64
		mu                    sync.Mutex // guards firstFailure
		firstFailure          string
		wg                    sync.WaitGroup
	)
	stop := make(chan struct{})
	fail := func(what string) {
		failed.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if firstFailure == "" {
			firstFailure = what
		}
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := w.c.call(ctx, "GET", "/api/v1/products/"+p.ID, "", nil)
				reads.Add(1)
				if err != nil || r.status != http.StatusOK {
					fail(fmt.Sprintf("read: %v %v", r, err))
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			// A careful client: one idempotency key per order, resent
			// as it is after a transport error.
			key := fmt.Sprintf("renewal-%d", i)
			r, err := w.c.call(ctx, "POST", "/api/v1/orders", buyer.token, orderBody(p.ID, 1), "Idempotency-Key", key)
			orders.Add(1)
			if err != nil || r.status != http.StatusCreated {
				fail(fmt.Sprintf("order %s: %v %v", key, r, err))
			}
		}
	})

	// Wait for the renewal of catalog's certificate, then for a catalog
	// instance to present the new one on a new connection (services look
	// at their files at most every 10 s), and keep the load on a little
	// longer.
	var after *big.Int
	loaded, renewed := time.Now(), time.Time{}
	for after == nil {
		if serial := leafSerial(t, s.pkiFile("catalog.pem")); serial.Cmp(before) != 0 {
			after, renewed = serial, time.Now()
			t.Logf("catalog's certificate renewed %v into the load", renewed.Sub(loaded).Round(time.Second))
			break
		}
		select {
		case <-ctx.Done():
			close(stop)
			wg.Wait()
			t.Fatalf("catalog's certificate was not renewed within %v", 3*renewalLifetime)
		case <-time.After(500 * time.Millisecond):
		}
	}
	catalogAddr := w.state(ctx, t).instanceAddrs("catalog")[0]
	gatewayCert := s.pkiFile("gateway.pem")
	for {
		if served := servedSerial(t, catalogAddr, gatewayCert); served.Cmp(after) == 0 {
			t.Logf("catalog serves its new certificate %v after the renewal", time.Since(renewed).Round(time.Second))
			break
		}
		select {
		case <-ctx.Done():
			close(stop)
			wg.Wait()
			t.Fatal("catalog does not serve its renewed certificate")
		case <-time.After(500 * time.Millisecond):
		}
	}
	time.Sleep(3 * time.Second) // a few more seconds of load on the new certificates
	close(stop)
	wg.Wait()
	t.Logf("during the renewal: %d reads, %d orders, %d failed", reads.Load(), orders.Load(), failed.Load())
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the renewal; the first: %s", n, firstFailure)
	}
	if reads.Load() == 0 || orders.Load() == 0 {
		t.Errorf("no load: %d reads, %d orders", reads.Load(), orders.Load())
	}
	checkInvariant(t, s.data)
	s.stop(t)
}

// leafSerial returns the serial number of the first certificate in file.
func leafSerial(t *testing.T, file string) *big.Int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

// servedSerial opens a new TLS connection to addr with the certificate in
// certFile and returns the serial number of the certificate the server
// presents.
func servedSerial(t *testing.T, addr, certFile string) *big.Int {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // the serial is what is compared
	})
	if err != nil {
		t.Fatalf("TLS to catalog at %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

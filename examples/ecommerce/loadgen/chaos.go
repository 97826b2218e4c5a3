package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
)

// chaosLoop asks the launcher to kill a random replica every
// ChaosInterval until end or ctx ends. Failures are reported and the loop
// goes on. With the loadgen's certificate in the data directory, the
// registry and the control API are reached over mutual TLS, and a control
// API that does not hold the launcher's identity is refused before
// anything (the secret included) is sent to it.
func (g *gen) chaosLoop(ctx context.Context, end time.Time) {
	src, err := shopIdentity(g.cfg.Data)
	if err != nil {
		g.note("chaos: %v", err)
		return
	}
	regTLS, err := expecting(src, launcher.RegistryService)
	if err != nil {
		g.note("chaos: %v", err)
		return
	}
	ctlTLS, err := expecting(src, launcher.ControlService)
	if err != nil {
		g.note("chaos: %v", err)
		return
	}
	ctl, scheme := newClient(1, ctlTLS), "http"
	defer ctl.CloseIdleConnections()
	if ctlTLS != nil {
		scheme = "https"
	}
	r := g.cfg.Resolver
	if r == nil {
		reg, err := registry.Connect(ctx, g.cfg.Registry, registry.WithTLS(regTLS))
		if err != nil {
			g.note("chaos: %v", err)
			return
		}
		defer reg.Close()
		r = reg.Resolver
	}
	w, err := r.Watch(ctx, launcher.ControlService)
	if err != nil {
		g.note("chaos: watch %s: %v", launcher.ControlService, err)
		return
	}
	defer w.Stop()
	var controls []discovery.Instance
	t := time.NewTimer(g.cfg.ChaosInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-w.Updates():
			controls = u.Instances
			continue
		case <-t.C:
		}
		if !time.Now().Before(end) {
			return
		}
		t.Reset(g.cfg.ChaosInterval)
		if len(controls) == 0 {
			g.note("chaos: no launcher control API in the registry; start the shop with \"up --chaos\"")
			continue
		}
		c := controls[rand.IntN(len(controls))]
		service := launcher.Services[rand.IntN(len(launcher.Services))]
		msg, err := g.kill(ctx, ctl, scheme, c.Addr, service)
		if err != nil {
			msg = fmt.Sprintf("killing a replica of %s failed: %v", service, err)
		}
		g.note("chaos: %s", msg)
		g.chaosMu.Lock()
		g.chaos = append(g.chaos, time.Now().Format("15:04:05")+" "+msg)
		g.chaosMu.Unlock()
	}
}

// kill asks the control API at scheme://addr (addr must be a loopback
// address), through client, to kill a replica of service, with the secret
// the launcher keeps in the data directory. The secret is read for every
// kill: a restarted launcher has a new one.
func (g *gen) kill(ctx context.Context, client *http.Client, scheme, addr, service string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !loopbackHost(host) {
		return "", fmt.Errorf("%w: control API at %q", ErrNotLoopback, addr)
	}
	secretPath := filepath.Join(g.cfg.Data, launcher.ChaosSecretFile)
	b, err := os.ReadFile(secretPath)
	if err != nil {
		return "", fmt.Errorf("the control API's secret: %w (is --data the shop's data directory?)", err)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := scheme + "://" + addr + launcher.KillPath + "?service=" + url.QueryEscape(service)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		return "", fmt.Errorf("control API answered 403: the secret in %s is not the running launcher's", secretPath)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("control API answered %d", resp.StatusCode)
	}
	var k launcher.KillResult
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		return "", err
	}
	return fmt.Sprintf("killed %s-%d (pid %d)", k.Service, k.Replica, k.PID), nil
}

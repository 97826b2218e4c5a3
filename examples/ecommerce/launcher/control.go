package launcher

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
	"github.com/switchyard/switchyard/mtls"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// ControlService is the registry name of the chaos control API that
// "up --chaos" serves.
const ControlService = "launcher"

// KillPath is the control API's path: POST KillPath?service=NAME kills one
// running replica of NAME.
const KillPath = "/v1/chaos/kill"

// KillResult is the control API's answer to a kill.
type KillResult struct {
	Service string `json:"service"`
	Replica int    `json:"replica"`
	PID     int    `json:"pid"`
}

// control is the chaos control API: an HTTPS server on a free loopback
// port, registered in the registry so that the loadgen can find it. It
// presents the launcher's certificate, so that the loadgen can tell it
// from anything else registered under its name (every holder of a shop
// certificate may write to the registry), and admits only a client
// presenting the loadgen's. Every request must also carry the run's
// secret, which is in secretPath (mode 0600) and nowhere else.
type control struct {
	addr       string
	secretPath string
	srv        *http.Server
	reg        *etcd.Registrar
	inst       discovery.Instance
	done       chan struct{}
}

func startControl(ctx context.Context, cli *clientv3.Client, self *mtls.Source, data string, services []*child, log *slog.Logger) (*control, error) {
	secretPath := filepath.Join(data, ChaosSecretFile)
	if _, err := createSecret(secretPath, true); err != nil {
		return nil, fmt.Errorf("launcher: chaos control secret: %w", err)
	}
	secret, err := readSecret(secretPath)
	if err != nil {
		os.Remove(secretPath)
		return nil, fmt.Errorf("launcher: chaos control secret: %w", err)
	}
	loadgen, err := self.ServiceID(LoadgenService)
	if err != nil {
		os.Remove(secretPath)
		return nil, fmt.Errorf("launcher: chaos control: %w", err)
	}
	onlyLoadgen, err := authz.New(authz.Config{
		Rules: []authz.Rule{{Route: "/", Callers: []identity.ID{loadgen}}},
		Hooks: authz.Hooks{OnDeny: func(_ context.Context, err *authz.Error) {
			log.Warn("launcher: chaos control refused a caller", "caller", err.Caller.String())
		}},
	})
	if err != nil {
		os.Remove(secretPath)
		return nil, fmt.Errorf("launcher: chaos control: %w", err)
	}
	reg, err := etcd.NewRegistrar(cli, etcd.RegistrarConfig{TTL: 5 * time.Second})
	if err != nil {
		os.Remove(secretPath)
		return nil, fmt.Errorf("launcher: chaos control: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Remove(secretPath)
		return nil, fmt.Errorf("launcher: chaos control: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+KillPath, func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("service")
		if !slices.Contains(Services, name) {
			shttp.WriteError(w, r, &shttp.Error{Status: http.StatusBadRequest, Code: "invalid_argument",
				Message: fmt.Sprintf("service must be one of %v", Services)})
			return
		}
		var running []*child
		for _, c := range services {
			if c.service == name && c.pid() != 0 {
				running = append(running, c)
			}
		}
		// Keep one replica alive: chaos here means losing an instance,
		// not the whole service.
		if len(running) < 2 {
			shttp.WriteError(w, r, &shttp.Error{Status: http.StatusConflict, Code: "no_spare_replica",
				Message: "fewer than two replicas of " + name + " are running"})
			return
		}
		c := running[rand.IntN(len(running))]
		pid := c.kill()
		log.Warn("launcher: chaos killed a replica", "child", c.name(), "pid", pid)
		writeJSON(w, http.StatusOK, KillResult{Service: name, Replica: c.replica, PID: pid})
	})
	c := &control{
		addr:       ln.Addr().String(),
		secretPath: secretPath,
		srv: &http.Server{
			Handler:           onlyLoadgen.Handler(requireSecret(secret, mux, log)),
			TLSConfig:         self.ServerConfig(), // a client certificate of the shop's CA required
			ReadHeaderTimeout: 5 * time.Second,
			// Refused handshakes (no certificate, another CA) are worth
			// a line in the launcher's log.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		reg:  reg,
		done: make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		_ = c.srv.ServeTLS(ln, "", "")
	}()
	c.inst = discovery.Instance{
		ID:      ControlService + "-" + strconv.Itoa(os.Getpid()),
		Service: ControlService,
		Addr:    c.addr,
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.reg.Register(rctx, c.inst); err != nil {
		c.close()
		return nil, fmt.Errorf("launcher: register chaos control: %w", err)
	}
	return c, nil
}

func (c *control) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = c.reg.Close(ctx)
	_ = c.srv.Shutdown(ctx)
	_ = c.srv.Close()
	<-c.done
	// The secret dies with the run; a loadgen that reads it later would
	// find no control API anyway.
	os.Remove(c.secretPath)
}

// requireSecret answers 403 to every request whose Authorization header is
// not "Bearer " and the secret, compared in constant time, and passes the
// others to next.
func requireSecret(secret string, next http.Handler, log *slog.Logger) http.Handler {
	want := []byte("Bearer " + secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			log.Warn("launcher: chaos control refused a request without the secret", "remote", r.RemoteAddr, "path", r.URL.Path)
			shttp.WriteError(w, r, shttp.Forbidden("the chaos control API needs \"Authorization: Bearer SECRET\" with the secret in DATA/"+ChaosSecretFile))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

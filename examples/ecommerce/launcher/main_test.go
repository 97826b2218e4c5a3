package launcher_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
)

// The test binary doubles as the children the launcher starts: with
// fakeChildEnv set it behaves as "ecommerce serve NAME ..." (a service that
// registers and serves /readyz, nothing more), and with fakeUpEnv set it
// behaves as "ecommerce up".
const (
	fakeChildEnv = "LAUNCHER_TEST_FAKE_CHILD"
	fakeUpEnv    = "LAUNCHER_TEST_FAKE_UP"
	// failEnv names a service whose fake children exit at once with an
	// error, to test the start-up failure path.
	failEnv = "LAUNCHER_TEST_FAIL"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(fakeChildEnv) == "1":
		os.Exit(fakeChild(os.Args[1:]))
	case os.Getenv(fakeUpEnv) != "":
		os.Exit(fakeUp(os.Getenv(fakeUpEnv)))
	}
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections between tests.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// childRecord is what a fake child writes to <data>/pids/NAME-PID: what it
// was given, for the tests to check.
type childRecord struct {
	Args []string `json:"args"`
	// AdminPasswordEnv is $ECOMMERCE_ADMIN_PASSWORD.
	AdminPasswordEnv string `json:"admin_password_env"`
	// AdminPasswordFile is --admin-password-file and AdminPassword the
	// content of that file.
	AdminPasswordFile string `json:"admin_password_file"`
	AdminPassword     string `json:"admin_password"`
	// DBEnv is $ECOMMERCE_DB.
	DBEnv string `json:"db_env"`
}

// fakeChild serves like a shop service: it writes a childRecord to
// <data>/pids/NAME-PID, loads its certificate (--tls-cert, --tls-key,
// --tls-ca: it must be its own service's), registers in the registry over
// mutual TLS and answers /readyz — over mutual TLS for the services, and
// for the gateway in plain HTTP or, with --public-tls-cert and
// --public-tls-key, HTTPS with that certificate, as the real ones do.
func fakeChild(args []string) int {
	if len(args) < 2 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "fake child: want serve NAME, got", args)
		return 2
	}
	name := args[1]
	var cfg settings.Service
	var public settings.TLSFiles
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if name == launcher.GatewayService {
		fs.StringVar(&public.Cert, "public-tls-cert", "", "")
		fs.StringVar(&public.Key, "public-tls-key", "", "")
	}
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if os.Getenv(failEnv) == name {
		fmt.Fprintln(os.Stderr, "fake child: failing on purpose: the database is on fire")
		return 1
	}
	rec := childRecord{Args: os.Args, AdminPasswordEnv: cfg.AdminPassword, AdminPasswordFile: cfg.AdminPasswordFile,
		DBEnv: os.Getenv(settings.EnvName("db"))}
	if rec.AdminPasswordFile != "" {
		b, err := os.ReadFile(rec.AdminPasswordFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake child:", err)
			return 1
		}
		rec.AdminPassword = string(b)
	}
	b, _ := json.Marshal(rec)
	pids := filepath.Join(cfg.Data, "pids")
	_ = os.MkdirAll(pids, 0o700)
	_ = os.WriteFile(filepath.Join(pids, name+"-"+strconv.Itoa(os.Getpid())), b, 0o600)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := telemetry.NewLogger(os.Stderr, name)
	id, err := secure.Load(cfg.TLS, name, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		return 1
	}
	reg, err := registry.Connect(ctx, cfg.Registry, id.Registry())
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		return 1
	}
	defer reg.Close()
	serverTLS := id.Server()
	if name == launcher.GatewayService {
		serverTLS = nil
		if public.Cert != "" {
			cert, err := tls.LoadX509KeyPair(public.Cert, public.Key)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fake child:", err)
				return 1
			}
			serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
	}
	o := instance.Config{
		Service:    name,
		Handler:    http.NotFoundHandler(),
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Logger:     logger,
		DrainDelay: -1,
		TLS:        serverTLS,
	}
	if err := instance.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		return 1
	}
	return 0
}

// fakeUp runs the launcher with the configuration in the environment
// (data directory given) on free ports, printing the banner to stdout.
func fakeUp(data string) int {
	exe, _ := os.Executable()
	err := launcher.Run(context.Background(), launcher.Config{
		Addr:           "127.0.0.1:0",
		RegistryListen: "127.0.0.1:0",
		Data:           data,
		Replicas:       1,
		AdminEmail:     "admin@example.com",
		Executable:     exe,
		Env:            []string{fakeChildEnv + "=1", fakeUpEnv + "="},
		Out:            os.Stdout,
		Logger:         telemetry.NewLogger(io.Discard, "launcher"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

package switchyard_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/discovery/memory"
)

// The life of a service process: listen on a free port, register the real
// address, serve, and on the end of the context (or SIGTERM) fail
// readiness, deregister, keep serving through the drain delay, finish
// in-flight requests and stop.
func ExampleApp() {
	reg := memory.New() // or discovery/etcd
	defer reg.Close()

	app, err := switchyard.New(switchyard.Config{
		Registrar:  reg,
		Resolver:   reg, // confirm the removal before stopping
		DrainDelay: 100 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	app.Health().Mount(mux) // /healthz and /readyz
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	app.Add(switchyard.Server{Service: "greeter", Addr: "127.0.0.1:0", Handler: mux})

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-app.Ready()

	w, _ := reg.Watch(ctx, "greeter")
	defer w.Stop()
	fmt.Println("registered:", len((<-w.Updates()).Instances), "instance at the listener's address:",
		app.Instances()[0].Addr == app.Addrs()[0].String())

	resp, err := http.Get("http://" + app.Addrs()[0].String() + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print("answer: ", string(body))

	stop() // as SIGTERM would
	fmt.Println("Run returned:", <-done)
	fmt.Println("registered:", len((<-w.Updates()).Instances), "state:", app.Health().State())
	// Output:
	// registered: 1 instance at the listener's address: true
	// answer: hello
	// Run returned: <nil>
	// registered: 0 state: draining
}

// An App can run servers that are not registered, such as an admin port;
// a failure of any server stops them all.
func ExampleServer() {
	app, err := switchyard.New(switchyard.Config{
		NoSignals:    true, // only the context stops it
		NoDrainDelay: true, // nobody routes to it
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	app.Add(switchyard.Server{Service: "orders", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	admin := http.NewServeMux()
	app.Health().Mount(admin)
	app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: admin}) // no Service: not registered

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-app.Ready()
	fmt.Println(len(app.Addrs()), "listeners,", len(app.Instances()), "registrations")
	resp, err := http.Get("http://" + app.Addrs()[1].String() + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("admin /readyz:", resp.StatusCode)
	stop()
	fmt.Println(<-done)
	// Output:
	// 2 listeners, 0 registrations
	// admin /readyz: 200
	// <nil>
}

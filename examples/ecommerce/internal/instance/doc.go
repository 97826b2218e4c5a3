// Package instance runs one instance of a shop service: [Run] listens,
// serves the service's handler behind the shop's server middleware
// (tracing, access log, metrics, one deadline layer), health, readiness and
// /metrics, registers the instance, and drains it on shutdown.
//
// A service's Run function, called by "ecommerce serve NAME", follows the
// same steps everywhere:
//
//	cfg.Validate()
//	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "NAME.db"), migrations...)
//	reg, err := registry.Connect(ctx, cfg.Registry) // defer reg.Close()
//	h := NewHTTPHandler(MakeEndpoints(NewService(NewSQLiteStore(db), ...)))
//	return instance.Run(ctx, instance.Config{Service: "NAME", Handler: h, Listen: cfg.Listen,
//		Registrar: reg.Registrar, Resolver: reg.Resolver, Logger: cfg.Logger})
//
// It holds no business logic and uses only the library's public API, the
// way an application outside this repository would; with the other
// packages under internal/ it is the start of a public service kit.
package instance

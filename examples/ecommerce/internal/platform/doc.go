// Package platform is the wiring the example shop's services share: flags
// that also read ECOMMERCE_* variables, SQLite databases with migrations,
// the etcd registry, the HTTP server lifecycle, clients of other services
// through the library's full call path, tokens, and ids.
//
// It holds no business logic. Each service (users, catalog, orders, the
// gateway) composes these pieces in its own Run function; the pieces use
// only the library's public API, the way an application outside this
// repository would.
//
// # API
//
// Configuration (config.go):
//
//	type ServiceConfig struct{ Registry, Listen, Data, AdminEmail, AdminPassword, AdminPasswordFile string;
//	                           Logger *slog.Logger; DrainDelay time.Duration }
//	func (c *ServiceConfig) RegisterFlags(fs *flag.FlagSet)
//	func (c *ServiceConfig) Validate() error
//	func (c *ServiceConfig) ReadAdminPassword() (string, error)  // the file's content, else ECOMMERCE_ADMIN_PASSWORD
//	func ParseFlags(fs *flag.FlagSet, args []string) error   // command line, then ECOMMERCE_<FLAG>
//	func EnvName(flagName string) string                     // "admin-email" → "ECOMMERCE_ADMIN_EMAIL"
//	func CheckAddr(flagName, addr string) error
//	func RegistryEndpoints(flagName, url string) ([]string, error)
//
// Databases (db.go):
//
//	type Migration func(ctx context.Context, tx *sql.Tx) error
//	func SQL(stmts ...string) Migration
//	func OpenDB(ctx context.Context, path string, migrations ...Migration) (*DB, error)
//	func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error
//
// Registry (registry.go):
//
//	type Registry struct{ Client *clientv3.Client; Registrar *etcd.Registrar; Resolver *etcd.Resolver }
//	func Connect(ctx context.Context, url string) (*Registry, error)
//	func (r *Registry) Close() error
//
// Serving (serve.go):
//
//	type ServeOptions struct{ Service string; Handler http.Handler; Listen, ListenFlag string; Listener net.Listener;
//	                          Registrar discovery.Registrar; Resolver discovery.Resolver; Logger *slog.Logger;
//	                          Telemetry *Telemetry; Checks map[string]shttp.CheckFunc; DrainDelay, DefaultDeadline time.Duration;
//	                          OnReady func(addr net.Addr) }
//	func Serve(ctx context.Context, o ServeOptions) error
//	type Telemetry struct{ Prometheus *metrics.Prometheus; Metrics *metrics.Metrics }
//	func NewTelemetry(service string) (*Telemetry, error)
//	func (t *Telemetry) ClientConfig(operation string) client.Config
//	func NewLogger(w io.Writer, service string) *slog.Logger
//
// Clients of other services (client.go):
//
//	type Request struct{ Path string; Header http.Header; Body any }
//	func NewClient(ctx context.Context, r discovery.Resolver, service, method, path string, cfg client.Config) (*Client, error)
//	func (c *Client) Call(ctx context.Context, req Request) ([]byte, error)
//	func CallJSON[T any](ctx context.Context, c *Client, req Request) (T, error)
//	func (c *Client) Endpoint() *client.Endpoint
//	func (c *Client) Close() error
//
// Tokens (auth.go):
//
//	const Issuer, Audience, Algorithm, RoleUser, RoleAdmin, UsersService, JWKSPath
//	func NewValidator(keys auth.KeySet, hooks ...auth.Hooks) (*auth.Validator, error)
//	type Verifier struct{ *auth.Validator; JWKS *auth.JWKS }   // keys fetched from users through discovery
//	func NewVerifier(ctx context.Context, r discovery.Resolver, hooks ...auth.Hooks) (*Verifier, error)
//	func (v *Verifier) Handler(next http.Handler) http.Handler  // 401 unless a valid Bearer token; claims in ctx
//	func (v *Verifier) Validate(ctx context.Context, token string) (*auth.Claims, error)
//	func (v *Verifier) Close() error
//	type Authenticator interface{ Handler(next http.Handler) http.Handler } // *auth.Validator or *Verifier
//	type TokenClaims struct{ UserID, Email, Role string }
//	func SignToken(key ed25519.PrivateKey, c TokenClaims, now time.Time, ttl time.Duration) (string, error)
//	func KeyID(pub ed25519.PublicKey) string                 // RFC 7638 thumbprint
//	func UserID(ctx) string; func Email(ctx) string; func IsAdmin(ctx) bool
//
// Ids (ids.go):
//
//	func NewID(prefix string) string                         // prefix + "_" + 20 base32 characters
//
// # A service's Run
//
// A service's Run function, called by "ecommerce serve NAME", follows the
// same steps everywhere:
//
//	cfg.Validate()
//	db  := platform.OpenDB(ctx, filepath.Join(cfg.Data, "NAME.db"), migrations...)
//	reg := platform.Connect(ctx, cfg.Registry)                // defer reg.Close()
//	h   := NewHTTPHandler(MakeEndpoints(NewService(NewSQLiteStore(db), ...)))
//	return platform.Serve(ctx, platform.ServeOptions{Service: "NAME", Handler: h, Listen: cfg.Listen,
//	        Registrar: reg.Registrar, Resolver: reg.Resolver, Logger: cfg.Logger})
//
// Everything here is safe for concurrent use unless its documentation says
// otherwise.
package platform

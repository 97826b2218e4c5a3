package orders

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Order statuses. An order is created confirmed (its stock reserved) and
// may move once, to cancelled (its stock released); nothing else changes.
const (
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// Request limits and defaults.
const (
	// MaxItems is the most lines an order may have.
	MaxItems = 50
	// MaxQuantity is the most units of one line.
	MaxQuantity = 1000
	// MaxProductIDLen bounds a product id, as the catalog does; ids are
	// opaque but short.
	MaxProductIDLen = 100
	// MaxKeyLen is the longest Idempotency-Key accepted.
	MaxKeyLen = 200
	// DefaultLimit and MaxLimit bound a page of the order list.
	DefaultLimit = 50
	MaxLimit     = 200
	// DefaultLease is how long an in-flight claim of an idempotency key
	// belongs to the attempt that made it. It is longer than the longest
	// attempt (each attempt stops its own work after half the lease, see
	// [Service]), so a claim still in flight after it was left by a crashed
	// instance and may be taken over.
	DefaultLease = 15 * time.Second
	// HeaderIdempotencyKey names the request header carrying the key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is set to "true" on an answer replayed from the
	// idempotency store.
	HeaderReplayed = "Idempotent-Replayed"
)

// Sentinel errors. The errors the service returns to callers are
// *shttp.Error values (status, code, message) wrapping one of these, so
// errors.Is works and the transport writes them as they are. Users and
// Catalog implementations report the conditions below with the matching
// sentinel (wrapped or not).
var (
	ErrMissingKey      = errors.New("orders: missing idempotency key")
	ErrInvalidKey      = errors.New("orders: invalid idempotency key")
	ErrInvalidArgument = errors.New("orders: invalid argument")
	ErrKeyReused       = errors.New("orders: idempotency key reused with another request")
	ErrInProgress      = errors.New("orders: request with this idempotency key in progress")
	ErrOutOfStock      = errors.New("orders: out of stock")
	ErrProductNotFound = errors.New("orders: product not found")
	ErrUserNotFound    = errors.New("orders: user not found")
	ErrUnauthenticated = errors.New("orders: no authenticated user")
	ErrOrderNotFound   = errors.New("orders: order not found")
	ErrInvalidCursor   = errors.New("orders: invalid cursor")
	ErrBadReservation  = errors.New("orders: catalog answered with a reservation that does not match the order")
	// ErrReservationReleased: the catalog refuses to reserve under an order
	// id whose reservation was released (an order id reserves once).
	ErrReservationReleased = errors.New("orders: the order id's reservation was released")
)

// Item is one line of an order request.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Line is one line of an order: an item with the unit price the catalog
// reserved it at.
type Line struct {
	ProductID  string `json:"product_id"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Order is an order as the API shows it. Money is in integer cents.
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"`
	Items      []Line    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
}

// Page is one page of a user's orders, newest first. NextCursor is empty on
// the last page.
type Page struct {
	Orders     []Order `json:"orders"`
	NextCursor string  `json:"next_cursor"`
}

// User is what the users service says about a user. Orders only needs to
// know that the user exists.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// Users is the part of the users service that orders needs. Get fails with
// an error wrapping [ErrUserNotFound] when there is no such user.
// Implementations must be safe for concurrent use.
type Users interface {
	Get(ctx context.Context, id string) (User, error)
}

// Catalog is the part of the catalog service that orders needs.
//
// Reserve takes the stock of every item for orderID, all or nothing, and
// returns the lines with their unit prices. It is idempotent per orderID: a
// second call returns the first reservation without taking stock again. It
// fails with [ErrOutOfStock] or [ErrProductNotFound] (wrapped or not) when
// it reserved nothing for that reason, and with [ErrReservationReleased]
// when orderID's reservation was released before (an order id reserves at
// most once); any other error leaves it unknown whether stock was reserved.
//
// Release returns the stock reserved for orderID. It is idempotent and
// succeeds when nothing is reserved.
//
// Implementations must be safe for concurrent use.
type Catalog interface {
	Reserve(ctx context.Context, orderID string, items []Item) ([]Line, error)
	Release(ctx context.Context, orderID string) error
}

// Result is the answer to placing an order: the HTTP status and the exact
// JSON body, as stored for the idempotency key. Replayed is true when it
// comes from the store rather than from this attempt.
type Result struct {
	Status   int
	Body     []byte
	Replayed bool
}

// Service is the orders business logic. userID is the authenticated caller;
// every method sees only that user's orders. Errors meant for the caller are
// *shttp.Error values wrapping the package's sentinels; others are internal.
// Implementations are safe for concurrent use.
type Service interface {
	// PlaceOrder places an order for items at most once per (userID, key)
	// and returns the key's answer: 201 with the order, or a final error
	// answer (409 out_of_stock), stored and replayed byte for byte.
	PlaceOrder(ctx context.Context, userID, key string, items []Item) (Result, error)
	// Order returns one of userID's orders; another user's is not found.
	Order(ctx context.Context, userID, id string) (Order, error)
	// Orders returns a page of userID's orders, newest first. limit 0
	// means DefaultLimit; cursor "" means the first page.
	Orders(ctx context.Context, userID string, limit int, cursor string) (Page, error)
	// Cancel marks the order cancelled and releases its stock. Cancelling
	// a cancelled order returns it unchanged.
	Cancel(ctx context.Context, userID, id string) (Order, error)
}

// Clock is the source of time of the service and the sweeper; the library's
// internal clock.Real and clock.Fake satisfy it.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Option configures [NewService] and [NewSweeper].
type Option func(*config)

type config struct {
	clock    Clock
	lease    time.Duration
	grace    time.Duration
	interval time.Duration
	batch    int
	logger   *slog.Logger
	newID    func() string
}

func newConfig(opts []Option) config {
	c := config{
		clock:    realClock{},
		lease:    DefaultLease,
		interval: DefaultSweepInterval,
		batch:    DefaultSweepBatch,
		logger:   slog.Default(),
		newID:    func() string { return platform.NewID("ord") },
	}
	for _, o := range opts {
		o(&c)
	}
	if c.grace <= 0 {
		c.grace = c.lease
	}
	return c
}

// WithClock sets the clock. Default: the real clock.
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithLease sets the lease of an in-flight claim. Default DefaultLease;
// values ≤ 0 keep the default.
func WithLease(d time.Duration) Option {
	return func(cfg *config) {
		if d > 0 {
			cfg.lease = d
		}
	}
}

// WithLogger sets the logger for failures that the caller does not see
// (a compensation that must be retried later). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) {
		if l != nil {
			cfg.logger = l
		}
	}
}

// WithOrderIDs sets the function that chooses new order ids. Default
// platform.NewID("ord").
func WithOrderIDs(f func() string) Option {
	return func(cfg *config) {
		if f != nil {
			cfg.newID = f
		}
	}
}

// compensationTimeout bounds the work done after the caller's context
// ended: freeing a claim and releasing stock.
const compensationTimeout = 5 * time.Second

type service struct {
	store   Store
	users   Users
	catalog Catalog
	cfg     config
}

// NewService returns the [Service] on store, checking users and reserving
// stock in catalog.
//
// An attempt to place an order stops its own calls after half the lease, so
// that it has finished (and compensated) long before its claim could be
// taken over.
func NewService(store Store, users Users, catalog Catalog, opts ...Option) Service {
	return &service{store: store, users: users, catalog: catalog, cfg: newConfig(opts)}
}

// ValidateKey checks an Idempotency-Key: 1 to MaxKeyLen characters of
// printable ASCII (space to '~'). Errors are *shttp.Error values (400)
// wrapping ErrMissingKey or ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return apiError(http.StatusBadRequest, "missing_idempotency_key", ErrMissingKey,
			"the Idempotency-Key header is required")
	}
	if len(key) > MaxKeyLen {
		return apiError(http.StatusBadRequest, "invalid_idempotency_key", ErrInvalidKey,
			"the Idempotency-Key header must be at most 200 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return apiError(http.StatusBadRequest, "invalid_idempotency_key", ErrInvalidKey,
				"the Idempotency-Key header must be printable ASCII")
		}
	}
	return nil
}

// NormalizeItems validates items (1 to MaxItems lines, quantity 1 to
// MaxQuantity, product ids of 1 to MaxProductIDLen letters, digits, '_',
// '-' or '.') and merges lines of the same product, keeping the order in
// which products first appear; a merged line too may hold at most
// MaxQuantity units. Errors are *shttp.Error values (400 invalid_argument)
// wrapping ErrInvalidArgument.
func NormalizeItems(items []Item) ([]Item, error) {
	if len(items) == 0 || len(items) > MaxItems {
		return nil, invalid(fmt.Sprintf("items: between 1 and %d lines are required", MaxItems))
	}
	out := make([]Item, 0, len(items))
	index := make(map[string]int, len(items))
	for i, it := range items {
		if !validProductID(it.ProductID) {
			return nil, invalid(fmt.Sprintf("items[%d].product_id: 1 to %d letters, digits, '_', '-' or '.' are required", i, MaxProductIDLen))
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return nil, invalid(fmt.Sprintf("items[%d].quantity: must be between 1 and %d", i, MaxQuantity))
		}
		if j, ok := index[it.ProductID]; ok {
			out[j].Quantity += it.Quantity
			if out[j].Quantity > MaxQuantity {
				return nil, invalid(fmt.Sprintf("items: at most %d units of product %q in one order", MaxQuantity, it.ProductID))
			}
			continue
		}
		index[it.ProductID] = len(out)
		out = append(out, it)
	}
	return out, nil
}

func validProductID(id string) bool {
	if id == "" || len(id) > MaxProductIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// RequestHash returns the hash that identifies a normalized request for its
// idempotency key: SHA-256, in hex, of the lines sorted by product id, so
// that bodies differing only in spacing, field order, unknown fields, line
// order or split lines of one product count as the same request.
func RequestHash(items []Item) string {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b Item) int { return cmp.Compare(a.ProductID, b.ProductID) })
	h := sha256.New()
	h.Write([]byte("orders.v1\n"))
	for _, it := range sorted {
		h.Write([]byte(it.ProductID))
		h.Write([]byte{'\t'})
		h.Write(strconv.AppendInt(nil, int64(it.Quantity), 10))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *service) PlaceOrder(ctx context.Context, userID, key string, items []Item) (Result, error) {
	if userID == "" {
		return Result{}, apiError(http.StatusUnauthorized, "unauthorized", ErrUnauthenticated, "a valid bearer token is required")
	}
	if err := ValidateKey(key); err != nil {
		return Result{}, err
	}
	items, err := NormalizeItems(items)
	if err != nil {
		return Result{}, err
	}
	hash := RequestHash(items)
	now := s.cfg.clock.Now()
	c, err := s.store.Claim(ctx, ClaimRequest{
		UserID: userID, Key: key, RequestHash: hash, OrderID: s.cfg.newID(),
		Now: now, LeaseUntil: now.Add(s.cfg.lease),
	})
	if err != nil {
		return Result{}, fmt.Errorf("orders: claim idempotency key: %w", err)
	}
	switch c.State {
	case ClaimAcquired:
		return s.fulfil(ctx, c.Ticket, items)
	case ClaimDone:
		if c.RequestHash != hash {
			return Result{}, errKeyReused()
		}
		return Result{Status: c.Response.Status, Body: c.Response.Body, Replayed: true}, nil
	case ClaimBusy:
		if c.RequestHash != hash {
			return Result{}, errKeyReused()
		}
		return Result{}, errInProgress()
	default:
		return Result{}, fmt.Errorf("orders: unexpected claim state %d", c.State)
	}
}

// fulfil runs one attempt holding claim t: check the user, reserve, store
// the order and the answer together. Whatever fails after the claim frees it
// (releasing stock if some may be reserved), except out of stock, which is
// the key's final answer.
func (s *service) fulfil(ctx context.Context, t Ticket, items []Item) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.lease/2)
	defer cancel()

	// A claim taken over may come with stock that the crashed attempt
	// reserved under the same order id: giving it up must release that.
	mayHoldStock := t.TakenOver

	if _, err := s.users.Get(ctx, t.UserID); err != nil {
		s.free(ctx, t, mayHoldStock)
		if errors.Is(err, ErrUserNotFound) {
			return Result{}, apiError(http.StatusForbidden, "unknown_user", err, "the token's user does not exist")
		}
		return Result{}, fmt.Errorf("orders: check user: %w", err)
	}

	lines, err := s.catalog.Reserve(ctx, t.OrderID, items)
	switch {
	case errors.Is(err, ErrOutOfStock):
		return s.finalError(ctx, t, apiError(http.StatusConflict, "out_of_stock", err,
			"not enough stock for one or more items; nothing was reserved"))
	case errors.Is(err, ErrProductNotFound):
		s.free(ctx, t, mayHoldStock)
		return Result{}, apiError(http.StatusBadRequest, "product_not_found", err, "an item names a product that does not exist")
	case errors.Is(err, ErrReservationReleased):
		// Only an attempt that lost its claim meets a released order id
		// (ids are released once no claim uses them): the request goes on
		// under another claim, or may be retried afresh.
		s.free(ctx, t, mayHoldStock)
		return Result{}, errInProgress()
	case err != nil:
		s.free(ctx, t, true)
		return Result{}, fmt.Errorf("orders: reserve stock: %w", err)
	}

	now := s.cfg.clock.Now().UTC().Truncate(time.Millisecond)
	o, err := buildOrder(t, items, lines, now)
	if err != nil {
		s.free(ctx, t, true)
		return Result{}, err
	}
	body, err := marshalBody(o)
	if err != nil {
		s.free(ctx, t, true)
		return Result{}, err
	}
	resp := StoredResponse{Status: http.StatusCreated, Body: body}
	switch err := s.store.Complete(ctx, t, &o, resp, now); {
	case errors.Is(err, ErrClaimLost):
		return s.lost(ctx, t, true)
	case err != nil:
		s.free(ctx, t, true)
		return Result{}, fmt.Errorf("orders: store order: %w", err)
	}
	return Result{Status: resp.Status, Body: resp.Body}, nil
}

// finalError stores e as the key's answer and returns it as a Result.
func (s *service) finalError(ctx context.Context, t Ticket, e *shttp.Error) (Result, error) {
	body, err := marshalBody(e)
	if err != nil {
		s.free(ctx, t, t.TakenOver)
		return Result{}, err
	}
	resp := StoredResponse{Status: e.Status, Body: body}
	switch err := s.store.Complete(ctx, t, nil, resp, s.cfg.clock.Now()); {
	case errors.Is(err, ErrClaimLost):
		return s.lost(ctx, t, t.TakenOver)
	case err != nil:
		s.free(ctx, t, t.TakenOver)
		return Result{}, fmt.Errorf("orders: store answer: %w", err)
	}
	if t.TakenOver {
		// The catalog answered for this order id, so it should hold
		// nothing for it; release anyway in case the attempt that crashed
		// reserved under it.
		dctx, cancel := detached(ctx)
		s.releaseOrphan(dctx, t.OrderID)
		cancel()
	}
	return Result{Status: resp.Status, Body: resp.Body}, nil
}

// free gives up claim t. With release set (stock may be reserved for its
// order), the claim's deletion enqueues the release in the same
// transaction, and the release is then attempted at once; the sweeper
// retries it if the catalog does not confirm. If the claim cannot be freed
// it stays in flight and the sweeper abandons it after the lease.
func (s *service) free(ctx context.Context, t Ticket, release bool) {
	ctx, cancel := detached(ctx)
	defer cancel()
	err := s.store.Free(ctx, t, release, s.cfg.clock.Now())
	switch {
	case errors.Is(err, ErrClaimLost):
		if release {
			s.releaseOrphan(ctx, t.OrderID)
		}
		return
	case err != nil:
		s.cfg.logger.ErrorContext(ctx, "orders: cannot free idempotency claim; the sweeper will abandon it",
			"order_id", t.OrderID, "err", err)
		return
	}
	if release {
		releaseNow(ctx, s.store, s.catalog, s.cfg.logger, t.OrderID)
	}
}

// lost handles an attempt whose claim was taken over (its lease ran out
// while it worked). The attempt's reservation, if any, is released unless
// another attempt may still use the order id; the caller gets the key's
// answer if there is one, or 409 request_in_progress.
func (s *service) lost(ctx context.Context, t Ticket, reserved bool) (Result, error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if reserved {
		s.releaseOrphan(ctx, t.OrderID)
	}
	c, err := s.store.Lookup(ctx, t.UserID, t.Key)
	if err == nil && c.State == ClaimDone && c.RequestHash == t.RequestHash {
		return Result{Status: c.Response.Status, Body: c.Response.Body, Replayed: true}, nil
	}
	return Result{}, errInProgress()
}

func (s *service) releaseOrphan(ctx context.Context, orderID string) {
	queued, err := s.store.EnqueueOrphanRelease(ctx, orderID, s.cfg.clock.Now())
	if err != nil {
		s.cfg.logger.ErrorContext(ctx, "orders: cannot enqueue release of an orphaned reservation",
			"order_id", orderID, "err", err)
		return
	}
	if queued {
		releaseNow(ctx, s.store, s.catalog, s.cfg.logger, orderID)
	}
}

// releaseNow sends an enqueued release to the catalog and, once it
// succeeds, removes it from the queue. A failure leaves it queued for the
// sweeper.
func releaseNow(ctx context.Context, st Store, cat Catalog, logger *slog.Logger, orderID string) {
	if err := cat.Release(ctx, orderID); err != nil {
		logger.WarnContext(ctx, "orders: release of stock failed; the sweeper will retry it", "order_id", orderID, "err", err)
		return
	}
	if err := st.ReleaseDone(ctx, orderID); err != nil {
		logger.WarnContext(ctx, "orders: cannot dequeue a sent release; the sweeper will send it again", "order_id", orderID, "err", err)
	}
}

// detached returns a context that carries ctx's values but not its
// cancellation, bounded by compensationTimeout: compensation must run even
// when the caller has gone.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
}

// buildOrder makes the order from the requested items and the catalog's
// reservation, which must cover exactly the requested quantities at prices
// from 0 to 10^12 cents.
func buildOrder(t Ticket, items []Item, lines []Line, now time.Time) (Order, error) {
	price := make(map[string]int64, len(lines))
	for _, l := range lines {
		if l.PriceCents < 0 || l.PriceCents >= 1e12 {
			return Order{}, fmt.Errorf("%w: price %d for %q", ErrBadReservation, l.PriceCents, l.ProductID)
		}
		price[l.ProductID] = l.PriceCents
	}
	qty := make(map[string]int, len(lines))
	for _, l := range lines {
		qty[l.ProductID] += l.Quantity
	}
	o := Order{ID: t.OrderID, UserID: t.UserID, Status: StatusConfirmed, CreatedAt: now,
		Items: make([]Line, 0, len(items))}
	for _, it := range items {
		p, ok := price[it.ProductID]
		if !ok || qty[it.ProductID] != it.Quantity {
			return Order{}, fmt.Errorf("%w: product %q", ErrBadReservation, it.ProductID)
		}
		sub := p * int64(it.Quantity)
		if o.TotalCents > math.MaxInt64-sub {
			return Order{}, fmt.Errorf("%w: total overflows", ErrBadReservation)
		}
		o.TotalCents += sub
		o.Items = append(o.Items, Line{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: p})
	}
	if len(qty) != len(items) {
		return Order{}, fmt.Errorf("%w: it has products the order does not", ErrBadReservation)
	}
	return o, nil
}

func (s *service) Order(ctx context.Context, userID, id string) (Order, error) {
	if userID == "" {
		return Order{}, apiError(http.StatusUnauthorized, "unauthorized", ErrUnauthenticated, "a valid bearer token is required")
	}
	o, err := s.store.Order(ctx, userID, id)
	if errors.Is(err, ErrOrderNotFound) {
		return Order{}, errNotFound(err)
	}
	return o, err
}

func (s *service) Orders(ctx context.Context, userID string, limit int, cursor string) (Page, error) {
	if userID == "" {
		return Page{}, apiError(http.StatusUnauthorized, "unauthorized", ErrUnauthenticated, "a valid bearer token is required")
	}
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return Page{}, invalid(fmt.Sprintf("limit: must be between 1 and %d", MaxLimit))
	}
	var after *Cursor
	if cursor != "" {
		c, err := DecodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		after = &c
	}
	list, err := s.store.Orders(ctx, userID, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	p := Page{Orders: list}
	if len(list) > limit {
		p.Orders = list[:limit]
		last := p.Orders[limit-1]
		p.NextCursor = Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	if p.Orders == nil {
		p.Orders = []Order{}
	}
	return p, nil
}

func (s *service) Cancel(ctx context.Context, userID, id string) (Order, error) {
	o, err := s.Order(ctx, userID, id)
	if err != nil || o.Status == StatusCancelled {
		return o, err
	}
	// The store marks the order cancelled and queues the release of its
	// stock in one transaction; the release is then sent at once, and the
	// sweeper retries it until catalog confirms. Stock held therefore
	// always matches confirmed orders, whatever crashes in between.
	o, err = s.store.Cancel(ctx, userID, id, s.cfg.clock.Now())
	if errors.Is(err, ErrOrderNotFound) {
		return Order{}, errNotFound(err)
	}
	if err != nil {
		return Order{}, err
	}
	rctx, cancel := detached(ctx)
	defer cancel()
	releaseNow(rctx, s.store, s.catalog, s.cfg.logger, id)
	return o, nil
}

// Cursor is a position in a user's order list: the last order of a page.
// It travels as an opaque string (see [Cursor.Encode]).
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode returns the cursor as base64url (no padding) of
// "<unix milliseconds>:<order id>".
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + ":" + c.ID))
}

// DecodeCursor parses a cursor made by [Cursor.Encode]. Errors are
// *shttp.Error values (400 invalid_cursor) wrapping ErrInvalidCursor.
func DecodeCursor(s string) (Cursor, error) {
	bad := apiError(http.StatusBadRequest, "invalid_cursor", ErrInvalidCursor, "cursor: not a cursor this service returned")
	if len(s) > 512 {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	ms, id, ok := strings.Cut(string(raw), ":")
	if !ok || !validProductID(id) {
		return Cursor{}, bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return Cursor{}, bad
	}
	return Cursor{CreatedAt: time.UnixMilli(n).UTC(), ID: id}, nil
}

// marshalBody encodes v as a response body: compact JSON and a newline, the
// shape every other answer of the service has.
func marshalBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("orders: encode answer: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(len(b) + 1)
	buf.Write(b)
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func apiError(status int, code string, cause error, msg string) *shttp.Error {
	return &shttp.Error{Status: status, Code: code, Message: msg, Err: cause}
}

func invalid(msg string) *shttp.Error {
	return apiError(http.StatusBadRequest, "invalid_argument", ErrInvalidArgument, msg)
}

func errKeyReused() *shttp.Error {
	return apiError(http.StatusUnprocessableEntity, "idempotency_key_reused", ErrKeyReused,
		"this Idempotency-Key was used for a different request")
}

func errInProgress() *shttp.Error {
	e := apiError(http.StatusConflict, "request_in_progress", ErrInProgress,
		"a request with this Idempotency-Key is in progress; retry later")
	e.Header = http.Header{"Retry-After": {"1"}}
	return e
}

func errNotFound(cause error) *shttp.Error {
	return apiError(http.StatusNotFound, "not_found", cause, "order not found")
}

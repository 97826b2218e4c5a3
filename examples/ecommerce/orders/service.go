package orders

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
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
)

// Errors of the orders service. The service returns them (wrapped, or
// inside an [*InvalidError] or [*ReplayedError]) and callers match them
// with errors.Is; the transport maps them to HTTP statuses and codes (see
// [EncodeError]). Users and Catalog implementations report the conditions
// below with the matching sentinel (wrapped or not).
var (
	// ErrUnauthenticated: no caller (401 unauthorized).
	ErrUnauthenticated = errors.New("orders: no authenticated user")
	// ErrMissingKey: no idempotency key (400 missing_idempotency_key).
	ErrMissingKey = errors.New("orders: missing idempotency key")
	// ErrInvalidKey: an idempotency key that breaks the rule of
	// [ValidateKey] (400 invalid_idempotency_key).
	ErrInvalidKey = errors.New("orders: invalid idempotency key")
	// ErrInvalidArgument: items or a limit out of bounds (400
	// invalid_argument).
	ErrInvalidArgument = errors.New("orders: invalid argument")
	// ErrInvalidCursor: a cursor this service did not make (400
	// invalid_cursor).
	ErrInvalidCursor = errors.New("orders: invalid cursor")
	// ErrKeyReused: the key was used for another request (422
	// idempotency_key_reused).
	ErrKeyReused = errors.New("orders: idempotency key reused with another request")
	// ErrInProgress: another attempt with the key is still running; retry
	// later (409 request_in_progress, Retry-After: 1).
	ErrInProgress = errors.New("orders: request with this idempotency key in progress")
	// ErrOutOfStock: the catalog had too little stock and reserved
	// nothing; the key's final answer (409 out_of_stock).
	ErrOutOfStock = errors.New("orders: out of stock")
	// ErrProductNotFound: an item names no product (400
	// product_not_found).
	ErrProductNotFound = errors.New("orders: product not found")
	// ErrUserNotFound: the caller's user does not exist (403
	// unknown_user).
	ErrUserNotFound = errors.New("orders: user not found")
	// ErrOrderNotFound: no such order, or another user's (404 not_found).
	ErrOrderNotFound = errors.New("orders: order not found")
	// ErrBadReservation: the catalog's answer does not match the order
	// (an internal error).
	ErrBadReservation = errors.New("orders: catalog answered with a reservation that does not match the order")
	// ErrReservationReleased: the catalog refuses to reserve under an order
	// id whose reservation was released (an order id reserves once).
	ErrReservationReleased = errors.New("orders: the order id's reservation was released")
)

// InvalidError is a request that breaks an input rule. It wraps Err, one
// of [ErrMissingKey], [ErrInvalidKey], [ErrInvalidCursor] or
// [ErrInvalidArgument]; Field names the part of the request ("key",
// "cursor", "limit", "items[2].quantity") and Reason the rule it breaks.
type InvalidError struct {
	Err    error
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Err.Error() + ": " + e.Field + " " + e.Reason }

// Unwrap returns Err.
func (e *InvalidError) Unwrap() error { return e.Err }

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

// Placement is the answer to placing an order: the order as it was placed.
// Replayed is true when an earlier request with the same idempotency key
// placed it and this one only got that request's answer again; the order
// is then shown as it was placed, even if it has been cancelled since.
type Placement struct {
	Order    Order
	Replayed bool
}

// Service is the orders business logic. userID is the authenticated caller;
// every method sees only that user's orders. Errors meant for the caller
// wrap the package's sentinels (see [ErrOrderNotFound] and the others);
// anything else is internal. Implementations are safe for concurrent use.
type Service interface {
	// PlaceOrder places an order for items at most once per (userID, key)
	// and returns the key's answer, the same for every request with the
	// key: the order as placed, or the final refusal (out of stock, a
	// [*ReplayedError] on later requests). The same key with other items
	// is [ErrKeyReused]; while an earlier request with the key is still
	// running, [ErrInProgress].
	PlaceOrder(ctx context.Context, userID, key string, items []Item) (Placement, error)
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
		newID:    func() string { return ids.New("ord") },
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
// ids.New("ord").
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

// ValidateKey checks an idempotency key: 1 to MaxKeyLen characters of
// printable ASCII (space to '~'). Errors are [*InvalidError] values
// wrapping ErrMissingKey or ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return &InvalidError{ErrMissingKey, "key", "is required"}
	}
	if len(key) > MaxKeyLen {
		return invalidKey(fmt.Sprintf("must be at most %d characters", MaxKeyLen))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return invalidKey("must be printable ASCII")
		}
	}
	return nil
}

// NormalizeItems validates items (1 to MaxItems lines, quantity 1 to
// MaxQuantity, product ids of 1 to MaxProductIDLen letters, digits, '_',
// '-' or '.') and merges lines of the same product, keeping the order in
// which products first appear; a merged line too may hold at most
// MaxQuantity units. Errors are [*InvalidError] values wrapping
// ErrInvalidArgument.
func NormalizeItems(items []Item) ([]Item, error) {
	if len(items) == 0 || len(items) > MaxItems {
		return nil, invalid("items", fmt.Sprintf("must hold between 1 and %d lines", MaxItems))
	}
	out := make([]Item, 0, len(items))
	index := make(map[string]int, len(items))
	for i, it := range items {
		if !validProductID(it.ProductID) {
			return nil, invalid(fmt.Sprintf("items[%d].product_id", i),
				fmt.Sprintf("must be 1 to %d letters, digits, '_', '-' or '.'", MaxProductIDLen))
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return nil, invalid(fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be between 1 and %d", MaxQuantity))
		}
		if j, ok := index[it.ProductID]; ok {
			out[j].Quantity += it.Quantity
			if out[j].Quantity > MaxQuantity {
				return nil, invalid("items", fmt.Sprintf("must hold at most %d units of product %q", MaxQuantity, it.ProductID))
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

func (s *service) PlaceOrder(ctx context.Context, userID, key string, items []Item) (Placement, error) {
	if userID == "" {
		return Placement{}, ErrUnauthenticated
	}
	if err := ValidateKey(key); err != nil {
		return Placement{}, err
	}
	items, err := NormalizeItems(items)
	if err != nil {
		return Placement{}, err
	}
	hash := RequestHash(items)
	now := s.cfg.clock.Now()
	c, err := s.store.Claim(ctx, ClaimRequest{
		UserID: userID, Key: key, RequestHash: hash, OrderID: s.cfg.newID(),
		Now: now, LeaseUntil: now.Add(s.cfg.lease),
	})
	if err != nil {
		return Placement{}, fmt.Errorf("orders: claim idempotency key: %w", err)
	}
	switch c.State {
	case ClaimAcquired:
		return s.fulfil(ctx, c.Ticket, items)
	case ClaimDone:
		if c.RequestHash != hash {
			return Placement{}, ErrKeyReused
		}
		return replay(c.Answer)
	case ClaimBusy:
		if c.RequestHash != hash {
			return Placement{}, ErrKeyReused
		}
		return Placement{}, ErrInProgress
	default:
		return Placement{}, fmt.Errorf("orders: unexpected claim state %d", c.State)
	}
}

// fulfil runs one attempt holding claim t: check the user, reserve, store
// the order and the answer together. Whatever fails after the claim frees it
// (releasing stock if some may be reserved), except out of stock, which is
// the key's final answer.
func (s *service) fulfil(ctx context.Context, t Ticket, items []Item) (Placement, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.lease/2)
	defer cancel()

	// A claim taken over may come with stock that the crashed attempt
	// reserved under the same order id: giving it up must release that.
	mayHoldStock := t.TakenOver

	if _, err := s.users.Get(ctx, t.UserID); err != nil {
		s.free(ctx, t, mayHoldStock)
		if errors.Is(err, ErrUserNotFound) {
			return Placement{}, err
		}
		return Placement{}, fmt.Errorf("orders: check user: %w", err)
	}

	lines, err := s.catalog.Reserve(ctx, t.OrderID, items)
	switch {
	case errors.Is(err, ErrOutOfStock):
		return s.outOfStock(ctx, t, err)
	case errors.Is(err, ErrProductNotFound):
		s.free(ctx, t, mayHoldStock)
		return Placement{}, err
	case errors.Is(err, ErrReservationReleased):
		// Only an attempt that lost its claim meets a released order id
		// (ids are released once no claim uses them): the request goes on
		// under another claim, or may be retried afresh.
		s.free(ctx, t, mayHoldStock)
		return Placement{}, fmt.Errorf("%w: %w", ErrInProgress, err)
	case err != nil:
		s.free(ctx, t, true)
		return Placement{}, fmt.Errorf("orders: reserve stock: %w", err)
	}

	now := s.cfg.clock.Now().UTC().Truncate(time.Millisecond)
	o, err := buildOrder(t, items, lines, now)
	if err != nil {
		s.free(ctx, t, true)
		return Placement{}, err
	}
	switch err := s.store.Complete(ctx, t, Answer{Order: &o}, now); {
	case errors.Is(err, ErrClaimLost):
		return s.lost(ctx, t, true)
	case err != nil:
		s.free(ctx, t, true)
		return Placement{}, fmt.Errorf("orders: store order: %w", err)
	}
	return Placement{Order: o}, nil
}

// outOfStock stores the refusal as the key's final answer and returns
// cause, the catalog's error.
func (s *service) outOfStock(ctx context.Context, t Ticket, cause error) (Placement, error) {
	switch err := s.store.Complete(ctx, t, Answer{OutOfStock: true}, s.cfg.clock.Now()); {
	case errors.Is(err, ErrClaimLost):
		return s.lost(ctx, t, t.TakenOver)
	case err != nil:
		s.free(ctx, t, t.TakenOver)
		return Placement{}, fmt.Errorf("orders: store answer: %w", err)
	}
	if t.TakenOver {
		// The catalog answered for this order id, so it should hold
		// nothing for it; release anyway in case the attempt that crashed
		// reserved under it.
		dctx, cancel := detached(ctx)
		s.releaseOrphan(dctx, t.OrderID)
		cancel()
	}
	return Placement{}, cause
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
// answer if there is one, or ErrInProgress.
func (s *service) lost(ctx context.Context, t Ticket, reserved bool) (Placement, error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if reserved {
		s.releaseOrphan(ctx, t.OrderID)
	}
	c, err := s.store.Lookup(ctx, t.UserID, t.Key)
	if err == nil && c.State == ClaimDone && c.RequestHash == t.RequestHash {
		return replay(c.Answer)
	}
	return Placement{}, ErrInProgress
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
		return Order{}, ErrUnauthenticated
	}
	return s.store.Order(ctx, userID, id)
}

func (s *service) Orders(ctx context.Context, userID string, limit int, cursor string) (Page, error) {
	if userID == "" {
		return Page{}, ErrUnauthenticated
	}
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return Page{}, invalid("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
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
// [*InvalidError] values wrapping ErrInvalidCursor.
func DecodeCursor(s string) (Cursor, error) {
	bad := &InvalidError{ErrInvalidCursor, "cursor", "is not a cursor this service returned"}
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

func invalid(field, reason string) *InvalidError {
	return &InvalidError{ErrInvalidArgument, field, reason}
}

func invalidKey(reason string) *InvalidError { return &InvalidError{ErrInvalidKey, "key", reason} }

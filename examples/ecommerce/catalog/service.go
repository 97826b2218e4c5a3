package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
)

// Limits of the input rules.
const (
	ServiceName        = "catalog"
	DefaultLimit       = 50
	MaxLimit           = 200
	MaxNameLen         = 200           // characters
	MaxDescriptionLen  = 2000          // characters
	MaxPriceCents      = 1e12 - 1      // price_cents < 10^12
	MaxStock           = 1_000_000_000 // 10^9
	MaxItems           = 50            // items per reservation, as orders allows
	MaxQuantity        = 1000          // per item, as orders allows
	MaxOrderIDLen      = 100
	productIDPrefix    = "prd"
	maxCursorLen       = 200
	maxProductIDLength = 100
)

// Errors of the catalog service. The transport maps them to HTTP statuses.
var (
	// ErrForbidden: the caller is not an admin (403 forbidden).
	ErrForbidden = errors.New("catalog: admin role required")
	// ErrReservationReleased: the order id's reservation was released (or
	// released before it was made); an order id reserves at most once
	// (409 reservation_released).
	ErrReservationReleased = errors.New("catalog: reservation already released")
)

// ProductNotFoundError names a product that does not exist (404
// product_not_found).
type ProductNotFoundError struct{ ID string }

func (e *ProductNotFoundError) Error() string {
	return fmt.Sprintf("catalog: product %q not found", e.ID)
}

// OutOfStockError names the first product of a reservation that has less
// stock than asked for; nothing was reserved (409 out_of_stock).
type OutOfStockError struct{ ProductID string }

func (e *OutOfStockError) Error() string {
	return fmt.Sprintf("catalog: not enough stock for product %q", e.ProductID)
}

// InvalidError is a request that breaks an input rule (400
// invalid_argument). Its message is safe to show the caller.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Reason }

// Product is a product as the API shows it. Money is in integer cents.
type Product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int64  `json:"stock"`
}

// NewProduct is what an admin gives to create a product. Name and
// PriceCents are required; Description defaults to "" and Stock to 0.
type NewProduct struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  *int64 `json:"price_cents"`
	Stock       *int64 `json:"stock"`
}

// Patch is a partial update of a product: nil fields are left alone.
type Patch struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	PriceCents  *int64  `json:"price_cents"`
	Stock       *int64  `json:"stock"`
}

// Page is one page of the product list. NextCursor is empty on the last
// page.
type Page struct {
	Products   []Product `json:"products"`
	NextCursor string    `json:"next_cursor"`
}

// Item asks for quantity units of a product.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// ReservedItem is a reserved item with the unit price at reservation time.
type ReservedItem struct {
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Reservation is the stock held for one order.
type Reservation struct {
	OrderID string         `json:"order_id"`
	Items   []ReservedItem `json:"items"`
	// Replayed is true when the reservation existed before the call.
	Replayed bool `json:"-"`
}

// Service is the catalog's logic: browsing, admin edits, and the stock
// reservations orders makes. Implementations are safe for concurrent use.
type Service interface {
	// List returns a page of up to limit products (0 means DefaultLimit)
	// after cursor ("" for the first page), ordered by id.
	List(ctx context.Context, limit int, cursor string) (Page, error)
	// Product returns one product or a *ProductNotFoundError.
	Product(ctx context.Context, id string) (Product, error)
	// Create adds a product. The caller's token must carry role admin.
	Create(ctx context.Context, p NewProduct) (Product, error)
	// Update applies a partial update. The caller must be an admin.
	Update(ctx context.Context, id string, p Patch) (Product, error)
	// Reserve holds stock for an order, all items or none, once per order
	// id (see Store.Reserve). Items with the same product are merged.
	Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error)
	// Release returns an order's stock, once (see Store.Release).
	Release(ctx context.Context, orderID string) error
}

// Option configures NewService.
type Option func(*service)

// WithNow sets the clock of the timestamps. Default time.Now.
func WithNow(now func() time.Time) Option { return func(s *service) { s.now = now } }

type service struct {
	store Store
	now   func() time.Time
}

// NewService returns the catalog service on store.
func NewService(store Store, opts ...Option) Service {
	s := &service{store: store, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// EncodeCursor returns the opaque cursor that continues a listing after the
// product with id lastID: its base64url encoding without padding.
func EncodeCursor(lastID string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastID)) }

// DecodeCursor reverses EncodeCursor, returning an *InvalidError for
// anything EncodeCursor cannot have produced.
func DecodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if len(cursor) > maxCursorLen || err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", &InvalidError{"cursor", "is not a cursor this service gave out"}
	}
	return string(b), nil
}

func (s *service) List(ctx context.Context, limit int, cursor string) (Page, error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return Page{}, &InvalidError{"limit", fmt.Sprintf("must be 1 to %d", MaxLimit)}
	}
	after, err := DecodeCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	ps, err := s.store.List(ctx, after, limit+1) // one more tells whether a next page exists
	if err != nil {
		return Page{}, err
	}
	page := Page{Products: ps}
	if len(ps) > limit {
		page.Products = ps[:limit]
		page.NextCursor = EncodeCursor(ps[limit-1].ID)
	}
	return page, nil
}

func (s *service) Product(ctx context.Context, id string) (Product, error) {
	if id == "" || len(id) > maxProductIDLength {
		return Product{}, &ProductNotFoundError{ID: id}
	}
	return s.store.Get(ctx, id)
}

func (s *service) Create(ctx context.Context, np NewProduct) (Product, error) {
	if !authn.IsAdmin(ctx) {
		return Product{}, ErrForbidden
	}
	if np.PriceCents == nil {
		return Product{}, &InvalidError{"price_cents", "is required"}
	}
	p := Product{ID: ids.New(productIDPrefix), Name: np.Name, Description: np.Description, PriceCents: *np.PriceCents}
	if np.Stock != nil {
		p.Stock = *np.Stock
	}
	var err error
	if p.Name, err = checkName(p.Name); err != nil {
		return Product{}, err
	}
	if err := checkDescription(p.Description); err != nil {
		return Product{}, err
	}
	if err := checkPrice(p.PriceCents); err != nil {
		return Product{}, err
	}
	if err := checkStock(p.Stock); err != nil {
		return Product{}, err
	}
	if err := s.store.Create(ctx, p, s.now()); err != nil {
		return Product{}, err
	}
	return p, nil
}

func (s *service) Update(ctx context.Context, id string, p Patch) (Product, error) {
	if !authn.IsAdmin(ctx) {
		return Product{}, ErrForbidden
	}
	if p.Name == nil && p.Description == nil && p.PriceCents == nil && p.Stock == nil {
		return Product{}, &InvalidError{"body", "must set at least one of name, description, price_cents, stock"}
	}
	if p.Name != nil {
		n, err := checkName(*p.Name)
		if err != nil {
			return Product{}, err
		}
		p.Name = &n
	}
	if p.Description != nil {
		if err := checkDescription(*p.Description); err != nil {
			return Product{}, err
		}
	}
	if p.PriceCents != nil {
		if err := checkPrice(*p.PriceCents); err != nil {
			return Product{}, err
		}
	}
	if p.Stock != nil {
		if err := checkStock(*p.Stock); err != nil {
			return Product{}, err
		}
	}
	if id == "" || len(id) > maxProductIDLength {
		return Product{}, &ProductNotFoundError{ID: id}
	}
	return s.store.Update(ctx, id, p, s.now())
}

func (s *service) Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error) {
	if err := checkOrderID(orderID); err != nil {
		return Reservation{}, err
	}
	merged, err := MergeItems(items)
	if err != nil {
		return Reservation{}, err
	}
	return s.store.Reserve(ctx, orderID, merged, s.now())
}

func (s *service) Release(ctx context.Context, orderID string) error {
	if err := checkOrderID(orderID); err != nil {
		return err
	}
	return s.store.Release(ctx, orderID, s.now())
}

// MergeItems checks a reservation's items (1 to MaxItems entries, each with
// a product id and a quantity from 1 to MaxQuantity), adds up the quantities
// of repeated products, and returns the result sorted by product id.
func MergeItems(items []Item) ([]Item, error) {
	if len(items) < 1 || len(items) > MaxItems {
		return nil, &InvalidError{"items", fmt.Sprintf("must hold 1 to %d items", MaxItems)}
	}
	sum := make(map[string]int64, len(items))
	for _, it := range items {
		if it.ProductID == "" || len(it.ProductID) > maxProductIDLength {
			return nil, &InvalidError{"product_id", "is required"}
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return nil, &InvalidError{"quantity", fmt.Sprintf("must be 1 to %d", MaxQuantity)}
		}
		sum[it.ProductID] += it.Quantity
	}
	out := make([]Item, 0, len(sum))
	for id, q := range sum {
		out = append(out, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	return out, nil
}

func checkName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if c := utf8.RuneCountInString(n); c < 1 || c > MaxNameLen {
		return "", &InvalidError{"name", fmt.Sprintf("must be 1 to %d characters", MaxNameLen)}
	}
	if strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", &InvalidError{"name", "must not contain control characters"}
	}
	return n, nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > MaxDescriptionLen {
		return &InvalidError{"description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLen)}
	}
	return nil
}

func checkPrice(p int64) error {
	if p < 0 || p > MaxPriceCents {
		return &InvalidError{"price_cents", "must be at least 0 and below 10^12"}
	}
	return nil
}

func checkStock(s int64) error {
	if s < 0 || s > MaxStock {
		return &InvalidError{"stock", "must be 0 to 10^9"}
	}
	return nil
}

func checkOrderID(id string) error {
	if id == "" || len(id) > MaxOrderIDLen {
		return &InvalidError{"order_id", fmt.Sprintf("must be 1 to %d characters", MaxOrderIDLen)}
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return &InvalidError{"order_id", "must be printable ASCII without spaces"}
		}
	}
	return nil
}

package orders

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
)

// This file is the idempotent replay: what makes two requests with one
// idempotency key the same request (RequestHash), the key's final answer
// as it is kept (Answer), and how a later request gets it again (replay,
// ReplayedError). The claim that makes an attempt the key's only one is
// in service.go; the transport adds HeaderReplayed to a replayed answer
// and writes it with the same encoder as the first, so the bytes match.

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

// Answer is an idempotency key's final answer, kept with its claim and
// given to every later request with the key. Exactly one field is set.
type Answer struct {
	// Order is the order as it was placed. It is a copy: cancelling the
	// order later does not change the key's answer.
	Order *Order `json:"order,omitempty"`
	// OutOfStock is set when the catalog had too little stock and the
	// request was refused for good.
	OutOfStock bool `json:"out_of_stock,omitempty"`
}

// ReplayedError is the final refusal of an idempotency key (only
// [ErrOutOfStock] is final) given again to a later request with the key.
// It wraps the refusal, so errors.Is(err, ErrOutOfStock) holds for the
// first answer and for every replay alike.
type ReplayedError struct{ Err error }

func (e *ReplayedError) Error() string { return "orders: replayed answer: " + e.Err.Error() }

// Unwrap returns Err.
func (e *ReplayedError) Unwrap() error { return e.Err }

// replay gives a key's stored answer to a later request with the key.
func replay(a Answer) (Placement, error) {
	switch {
	case a.Order != nil:
		return Placement{Order: *a.Order, Replayed: true}, nil
	case a.OutOfStock:
		return Placement{}, &ReplayedError{Err: ErrOutOfStock}
	}
	return Placement{}, errors.New("orders: stored answer is empty")
}

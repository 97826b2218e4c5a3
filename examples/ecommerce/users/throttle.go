package users

import (
	"container/list"
	"errors"
	"fmt"
	"github.com/switchyard/switchyard/internal/httperr"
	"hash/maphash"
	"sync"
	"time"
)

// ErrThrottled is wrapped by [*ThrottledError].
var ErrThrottled = errors.New("users: too many failed logins")

// ThrottledError is a login refused by the [Throttle] without checking the
// password (429 login_throttled with Retry-After).
type ThrottledError struct {
	// RetryAfter is how long the caller should wait before trying again.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v: retry after %v", ErrThrottled, e.RetryAfter)
}

// Unwrap returns ErrThrottled.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1.
func (e *ThrottledError) RetryAfterSeconds() int {
	return int(httperr.RetryAfterSeconds(e.RetryAfter))
}

// ThrottleRule is one budget of failed logins with a growing delay. After
// the n-th failure counted under one key, with n ≥ Free, the key is blocked
// for Base·2^(n−Free), at most Max. A key with no failure for Quiet is
// forgotten, so its count starts again from zero.
type ThrottleRule struct {
	Free  int           // failures with no delay
	Base  time.Duration // delay after the Free-th failure; it doubles with each further one
	Max   time.Duration // longest delay
	Quiet time.Duration // quiet time after which a key is forgotten; at least Max
}

// delay is how long a key is blocked after its n-th failure.
func (r ThrottleRule) delay(n int) time.Duration {
	if n < r.Free {
		return 0
	}
	if k := n - r.Free; k < 62 && r.Base<<k > 0 && r.Base<<k < r.Max {
		return r.Base << k
	}
	return r.Max
}

// The default rules; see the package documentation for the numbers they
// give.
var (
	// DefaultSourceRule limits the failures for one account from one
	// client address (an IPv4 address or an IPv6 /64).
	DefaultSourceRule = ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute, Quiet: time.Hour}
	// DefaultAccountRule limits the failures for one account from all
	// addresses together. Addresses that logged in to the account before
	// (within KnownSourceTTL) are exempt from it, so it cannot lock the
	// owner out; its Max bounds how long it keeps everybody else out
	// after an attack stops.
	DefaultAccountRule = ThrottleRule{Free: 20, Base: time.Second, Max: 5 * time.Minute, Quiet: time.Hour}
)

// DefaultThrottleKeys is how many keys each of a [Throttle]'s two tables
// holds by default.
const DefaultThrottleKeys = 100_000

// ThrottleSettings configures [NewThrottle]. Every zero field means its
// default.
type ThrottleSettings struct {
	// Source is the rule per (account, client address). Default
	// DefaultSourceRule.
	Source ThrottleRule
	// Account is the rule per account. Default DefaultAccountRule.
	Account ThrottleRule
	// MaxKeys bounds each table (sources, accounts). Default
	// DefaultThrottleKeys.
	MaxKeys int
}

// Throttle counts failed logins per (account, client address) and per
// account and says how long a new attempt must wait. It keeps its counts in
// memory, so each replica of the service has its own. Time is passed in,
// as with rate.Limiter.AllowN.
//
// An attempt is counted as a failure when it begins ([Throttle.Begin]),
// before the password is checked, so concurrent attempts cannot slip past
// the limit together; [Throttle.Success] takes the count back. The
// key's delay is then recomputed from its remaining count and its last
// failure, which may be the refunded one: a success can lengthen the
// account's current delay for others by the time since its previous
// failure, never shorten it below what the remaining count earns.
//
// Each table holds at most MaxKeys keys. Keys are stored as 64-bit hashes
// under a random seed (about 150 bytes per key with the lists). When a table
// is full the key whose last failure is oldest goes, taken first from the
// keys that are not yet delaying anybody, so that a flood of one-off
// failures cannot push out the count of an account under attack.
//
// A Throttle is safe for concurrent use. Use [NewThrottle]; the zero value
// is not usable.
type Throttle struct {
	seed maphash.Seed

	mu       sync.Mutex // guards sources and accounts
	sources  table
	accounts table
}

// NewThrottle returns a Throttle with s.
func NewThrottle(s ThrottleSettings) *Throttle {
	if s.Source == (ThrottleRule{}) {
		s.Source = DefaultSourceRule
	}
	if s.Account == (ThrottleRule{}) {
		s.Account = DefaultAccountRule
	}
	if s.MaxKeys <= 0 {
		s.MaxKeys = DefaultThrottleKeys
	}
	t := &Throttle{seed: maphash.MakeSeed()}
	t.sources.init(s.Source, s.MaxKeys)
	t.accounts.init(s.Account, s.MaxKeys)
	return t
}

func (t *Throttle) keys(account, source string) (acct, src uint64) {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(account)
	acct = h.Sum64()
	h.WriteByte(0) // e-mail addresses hold no NUL
	h.WriteString(source)
	return acct, h.Sum64()
}

// Begin asks whether an attempt to log in to account from source may go
// ahead at now. If so it counts the attempt as a failure, under the
// source's key and, unless exempt, the account's, and returns 0.
// Otherwise it counts nothing and returns how long to wait; byAccount then
// reports that only the account's budget blocks the attempt, so a source
// exempt from it (one the account's owner used before) may call Begin
// again with exempt set. An exempt source is held by its own budget only,
// and its failures do not count for the account.
func (t *Throttle) Begin(account, source string, exempt bool, now time.Time) (wait time.Duration, byAccount bool) {
	ak, sk := t.keys(account, source)
	t.mu.Lock()
	defer t.mu.Unlock()
	sw := t.sources.wait(sk, now)
	var aw time.Duration
	if !exempt {
		aw = t.accounts.wait(ak, now)
	}
	if sw > 0 || aw > 0 {
		return max(sw, aw), sw == 0
	}
	t.sources.fail(sk, now)
	if !exempt {
		t.accounts.fail(ak, now)
	}
	return 0, false
}

// Success records that the attempt begun for account from source had the
// right password: the source's count is cleared and the account's count
// loses the failure Begin added (exempt must be what Begin was given).
func (t *Throttle) Success(account, source string, exempt bool) {
	ak, sk := t.keys(account, source)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sources.remove(sk)
	if !exempt {
		t.accounts.refund(ak)
	}
}

// Refund takes back the failure Begin counted for an attempt that ended
// with no verdict on the password (the service failed, or the caller went
// away); exempt must be what Begin was given.
func (t *Throttle) Refund(account, source string, exempt bool) {
	ak, sk := t.keys(account, source)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sources.refund(sk)
	if !exempt {
		t.accounts.refund(ak)
	}
}

// Len returns how many keys the two tables hold.
func (t *Throttle) Len() (sources, accounts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sources.keys), len(t.accounts.keys)
}

// table is one rule's counts: a map from key hash to list element, and two
// lists ordered by last failure, newest first: light holds keys below the
// rule's Free count, heavy the others. It is guarded by Throttle.mu.
type table struct {
	rule  ThrottleRule
	max   int
	keys  map[uint64]*list.Element
	light list.List
	heavy list.List
}

type entry struct {
	key      uint64
	failures int
	last     time.Time // last failure counted
	until    time.Time // blocked until
	heavy    bool      // in table.heavy
}

func (t *table) init(r ThrottleRule, maxKeys int) {
	r.Quiet = max(r.Quiet, r.Max) // a key must outlive its block
	t.rule, t.max, t.keys = r, maxKeys, make(map[uint64]*list.Element)
}

// lookup returns k's live entry, dropping it if it has been quiet too long.
func (t *table) lookup(k uint64, now time.Time) *list.Element {
	el := t.keys[k]
	if el != nil && now.Sub(el.Value.(*entry).last) >= t.rule.Quiet {
		t.drop(el)
		return nil
	}
	return el
}

func (t *table) wait(k uint64, now time.Time) time.Duration {
	if el := t.lookup(k, now); el != nil {
		return max(0, el.Value.(*entry).until.Sub(now))
	}
	return 0
}

func (t *table) fail(k uint64, now time.Time) {
	el := t.lookup(k, now)
	if el == nil {
		el = t.light.PushFront(&entry{key: k})
		t.keys[k] = el
	}
	e := el.Value.(*entry)
	e.failures++
	e.last = now
	if d := t.rule.delay(e.failures); d > 0 {
		e.until = now.Add(d)
	}
	t.place(el)
	t.prune(now)
}

func (t *table) refund(k uint64) {
	el := t.keys[k]
	if el == nil {
		return
	}
	e := el.Value.(*entry)
	if e.failures--; e.failures <= 0 {
		t.drop(el)
		return
	}
	e.until = time.Time{}
	if d := t.rule.delay(e.failures); d > 0 {
		e.until = e.last.Add(d)
	}
	// e.last has not changed, so e keeps its place by last failure: moving
	// it to the front would put it ahead of newer keys and stop prune's
	// quiet sweep early. Only a key that falls below Free changes list.
	if heavy := e.failures >= t.rule.Free; heavy != e.heavy {
		t.list(e.heavy).Remove(el)
		e.heavy = heavy
		t.keys[e.key] = insertByLast(t.list(heavy), e)
	}
}

// insertByLast inserts e into l, which is ordered by last failure, newest
// first, after every entry newer than e. The walk from the front passes
// only the keys that failed since e's last failure; for a refund that is
// the time of one password check.
func insertByLast(l *list.List, e *entry) *list.Element {
	for el := l.Front(); el != nil; el = el.Next() {
		if !el.Value.(*entry).last.After(e.last) {
			return l.InsertBefore(e, el)
		}
	}
	return l.PushBack(e)
}

func (t *table) remove(k uint64) {
	if el := t.keys[k]; el != nil {
		t.drop(el)
	}
}

// place moves el, whose last failure is now, to the front of the list its
// count belongs in.
func (t *table) place(el *list.Element) {
	e := el.Value.(*entry)
	heavy := e.failures >= t.rule.Free
	if heavy == e.heavy {
		t.list(heavy).MoveToFront(el)
		return
	}
	t.list(e.heavy).Remove(el)
	e.heavy = heavy
	t.keys[e.key] = t.list(heavy).PushFront(e)
}

func (t *table) list(heavy bool) *list.List {
	if heavy {
		return &t.heavy
	}
	return &t.light
}

func (t *table) drop(el *list.Element) {
	e := el.Value.(*entry)
	t.list(e.heavy).Remove(el)
	delete(t.keys, e.key)
}

// prune forgets quiet keys from the old ends of both lists, then the oldest
// keys while the table is over its bound, light ones first.
func (t *table) prune(now time.Time) {
	for _, l := range []*list.List{&t.light, &t.heavy} {
		for el := l.Back(); el != nil && now.Sub(el.Value.(*entry).last) >= t.rule.Quiet; el = l.Back() {
			t.drop(el)
		}
	}
	for len(t.keys) > t.max {
		el := t.light.Back()
		if el == nil {
			el = t.heavy.Back()
		}
		t.drop(el)
	}
}

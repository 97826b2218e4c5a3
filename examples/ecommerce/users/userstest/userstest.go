package userstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// Open returns n stores on one new, empty database, each with its own
// connections, as n replicas of the users service would have. It closes
// them when t ends.
type Open func(t *testing.T, n int) []users.Store

// t0 is a fixed time with a millisecond fraction, which the stores must
// keep.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 123e6, time.UTC)

func record(id, email string) users.Record {
	return users.Record{User: users.User{ID: id, Email: email, Name: "Name " + id, Role: "user"},
		PasswordHash: "hash-" + id, CreatedAt: t0}
}

// Run runs the suite against the stores open makes, each case on a new
// database and in parallel with the others.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CreateAndRead", testCreateAndRead},
		{"CreateIsAtomicAcrossReplicas", testCreateAcrossReplicas},
		{"PutAdmin", testPutAdmin},
		{"PutAdminAcrossReplicas", testPutAdminAcrossReplicas},
		{"LoginSources", testLoginSources},
		{"LoginSourcesAcrossReplicas", testLoginSourcesAcrossReplicas},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open)
		})
	}
}

func testCreateAndRead(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	r := record("usr_1", "ann@example.com")
	if err := st.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (users.Record, error){
		"ByEmail": func() (users.Record, error) { return st.ByEmail(ctx, r.Email) },
		"ByID":    func() (users.Record, error) { return st.ByID(ctx, r.ID) },
	} {
		got, err := get()
		if err != nil || got.User != r.User || got.PasswordHash != r.PasswordHash || !got.CreatedAt.Equal(t0) {
			t.Errorf("%s = %+v, %v; want %+v", name, got, err, r)
		}
	}
	dup := record("usr_2", r.Email)
	if err := st.Create(ctx, dup); !errors.Is(err, users.ErrEmailTaken) {
		t.Errorf("Create with a taken address = %v, want ErrEmailTaken", err)
	}
	if _, err := st.ByID(ctx, "usr_2"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("the refused duplicate was stored: ByID = %v", err)
	}
	if _, err := st.ByEmail(ctx, "nobody@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("ByEmail of an unknown address = %v, want ErrNotFound", err)
	}
	if _, err := st.ByID(ctx, "usr_nope"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("ByID of an unknown id = %v, want ErrNotFound", err)
	}
}

// Of many concurrent creates with one address, spread over two replicas,
// exactly one succeeds and the others get ErrEmailTaken.
func testCreateAcrossReplicas(t *testing.T, open Open) {
	stores := open(t, 2)
	ctx := context.Background()
	const n = 16
	var (
		wg      sync.WaitGroup
		created atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			err := stores[i%2].Create(ctx, record(fmt.Sprint("usr_", i), "race@example.com"))
			switch {
			case err == nil:
				created.Add(1)
			case !errors.Is(err, users.ErrEmailTaken):
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", created.Load())
	}
	if _, err := stores[1].ByEmail(ctx, "race@example.com"); err != nil {
		t.Fatal(err)
	}
}

func testPutAdmin(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	admin := record("usr_a", "root@example.com")
	admin.Role = "admin"
	got, err := st.PutAdmin(ctx, admin)
	if err != nil || got.User != admin.User || got.PasswordHash != admin.PasswordHash || !got.CreatedAt.Equal(t0) {
		t.Fatalf("PutAdmin of a new address = %+v, %v", got, err)
	}
	// An existing user becomes admin with the new hash, keeping the rest.
	u := record("usr_u", "promote@example.com")
	if err := st.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	again := record("usr_other", u.Email)
	again.Role, again.PasswordHash, again.Name, again.CreatedAt = "admin", "new-hash", "Other", t0.Add(time.Hour)
	got, err = st.PutAdmin(ctx, again)
	if err != nil || got.ID != u.ID || got.Name != u.Name || got.Role != "admin" || got.PasswordHash != "new-hash" ||
		!got.CreatedAt.Equal(t0) {
		t.Fatalf("PutAdmin of an existing address = %+v, %v", got, err)
	}
	stored, err := st.ByEmail(ctx, u.Email)
	if err != nil || stored.User != got.User || stored.PasswordHash != "new-hash" {
		t.Fatalf("stored after PutAdmin = %+v, %v", stored, err)
	}
}

// Concurrent PutAdmin calls with one address over two replicas all succeed
// and leave one admin, whose id every call returns.
func testPutAdminAcrossReplicas(t *testing.T, open Open) {
	stores := open(t, 2)
	ctx := context.Background()
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := record(fmt.Sprint("usr_", i), "root@example.com")
			r.Role = "admin"
			got, err := stores[i%2].PutAdmin(ctx, r)
			if err != nil {
				t.Errorf("PutAdmin: %v", err)
				return
			}
			ids[i] = got.ID
		})
	}
	wg.Wait()
	stored, err := stores[0].ByEmail(ctx, "root@example.com")
	if err != nil || stored.Role != "admin" {
		t.Fatalf("stored admin = %+v, %v", stored, err)
	}
	for i, id := range ids {
		if id != stored.ID {
			t.Errorf("call %d returned id %q, the stored admin is %q", i, id, stored.ID)
		}
	}
}

func testLoginSources(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	u := record("usr_1", "ann@example.com")
	if err := st.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.RememberSource(ctx, u.ID, "10.0.0.1", t0); err != nil {
		t.Fatal(err)
	}
	// An older success does not move the time back.
	if err := st.RememberSource(ctx, u.ID, "10.0.0.1", t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		email, source string
		since         time.Time
		want          bool
	}{
		{u.Email, "10.0.0.1", t0, true},
		{u.Email, "10.0.0.1", t0.Add(-time.Minute), true},
		{u.Email, "10.0.0.1", t0.Add(time.Millisecond), false},
		{u.Email, "10.0.0.2", t0.Add(-time.Hour), false},
		{"other@example.com", "10.0.0.1", t0.Add(-time.Hour), false},
	} {
		got, err := st.KnownSource(ctx, c.email, c.source, c.since)
		if err != nil || got != c.want {
			t.Errorf("KnownSource(%s, %s, %v) = %v, %v; want %v", c.email, c.source, c.since, got, err, c.want)
		}
	}
	// Only the MaxKnownSources most recent addresses are kept.
	for i := range users.MaxKnownSources + 5 {
		if err := st.RememberSource(ctx, u.ID, fmt.Sprint("192.0.2.", i), t0.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users.MaxKnownSources + 5 {
		got, err := st.KnownSource(ctx, u.Email, fmt.Sprint("192.0.2.", i), t0)
		if want := i >= 5; err != nil || got != want {
			t.Errorf("after %d logins, source %d known = %v, %v; want %v", users.MaxKnownSources+5, i, got, err, want)
		}
	}
	if got, _ := st.KnownSource(ctx, u.Email, "10.0.0.1", t0.Add(-time.Hour)); got {
		t.Error("the oldest address is still known")
	}
}

// Logins of one user on two replicas at once all succeed and the list stays
// within MaxKnownSources.
func testLoginSourcesAcrossReplicas(t *testing.T, open Open) {
	stores := open(t, 2)
	ctx := context.Background()
	u := record("usr_1", "ann@example.com")
	if err := stores[0].Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	const n = 3 * users.MaxKnownSources
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := stores[i%2].RememberSource(ctx, u.ID, fmt.Sprint("198.51.100.", i), t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Errorf("RememberSource: %v", err)
			}
		})
	}
	wg.Wait()
	known := 0
	for i := range n {
		ok, err := stores[1].KnownSource(ctx, u.Email, fmt.Sprint("198.51.100.", i), t0)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			known++
		}
	}
	if known == 0 || known > users.MaxKnownSources {
		t.Fatalf("%d sources known after %d concurrent logins, want 1 to %d", known, n, users.MaxKnownSources)
	}
}

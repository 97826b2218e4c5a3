package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminPasswordFile is where "up" keeps the admin password it generated
// (launcher.AdminPasswordFile), the tests having given none.
const adminPasswordFile = "admin-password"

// adminPassword returns the password "up" generated for the admin account.
func (s *shop) adminPassword(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.data, adminPasswordFile))
	if err != nil {
		t.Fatalf("the admin password file: %v", err)
	}
	return strings.TrimRight(string(b), "\r\n")
}

// logInAdmin logs in as the admin account the shop created at start, with
// the password "up" generated, and remembers it for the restart check.
func (w *world) logInAdmin(ctx context.Context, t *testing.T) *account {
	t.Helper()
	a := &account{password: w.shop.adminPassword(t)}
	a.Email = adminEmail
	w.c.logIn(ctx, t, a)
	w.c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/me", a.token, nil).decode(t, &a.user)
	w.remember(a)
	return a
}

// testAdminBootstrap: nobody becomes admin by signing up. The shop created
// the admin account itself with a password "up" generated into a file only
// the owner can read; the banner names the file, and no command line shows
// the password; signing up with the admin address answers 409.
func testAdminBootstrap(t *testing.T, w *world) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.admin.Role != "admin" || w.admin.Email != adminEmail {
		t.Errorf("the bootstrapped admin is %+v, want role admin and %s", w.admin.user, adminEmail)
	}
	path := filepath.Join(w.shop.data, adminPasswordFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	password := w.admin.password
	if len(password) < 20 {
		t.Errorf("the generated admin password %q is short", password)
	}
	banner := w.shop.stdout.String()
	if !strings.Contains(banner, path) || strings.Contains(banner, password) {
		t.Errorf("the banner should name %s and not show the password:\n%s", path, banner)
	}
	for _, p := range shopProcesses(w.shop.data) {
		if strings.Contains(strings.Join(p.args, " "), password) {
			t.Errorf("the admin password is on the command line of %v", p)
		}
	}
	for _, email := range []string{adminEmail, strings.ToUpper(adminEmail)} {
		r := w.c.must(ctx, t, "POST", "/api/v1/users", "", map[string]string{
			"email": email, "password": "pw-of-a-would-be-admin", "name": "Mallory"})
		if r.status != http.StatusConflict {
			t.Errorf("sign-up as %s: %s, want 409", email, r)
		}
	}
	// The admin's session is untouched by the attempts.
	var me user
	w.c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/me", w.admin.token, nil).decode(t, &me)
	if me != w.admin.user {
		t.Errorf("after the sign-up attempts the admin is %+v, want %+v", me, w.admin.user)
	}
}

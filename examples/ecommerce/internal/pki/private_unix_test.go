//go:build unix

package pki_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
)

// permissiveUmask sets the process's umask to 0 for the test, so that any
// mode the code leaves to the umask shows up as world-readable. The umask
// is process-wide: tests that call this must not run in parallel.
func permissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// Every file is exactly 0600 and the directory 0700, whatever the umask,
// after creation, after a renewal replaced a file, and after a reopen
// found wider modes.
func TestModes(t *testing.T) {
	for _, umask := range []int{0, 0o022, 0o077} {
		t.Run(fs.FileMode(umask).String(), func(t *testing.T) {
			old := syscall.Umask(umask)
			t.Cleanup(func() { syscall.Umask(old) })
			dir := filepath.Join(t.TempDir(), "data", "pki")
			a := open(t, dir, pki.Config{})
			issue(t, a, "orders")
			issue(t, a, "orders") // a replacement
			if _, _, err := pki.SelfSigned(dir, nil); err != nil {
				t.Fatal(err)
			}
			if got := mode(t, dir); got != 0o700 {
				t.Errorf("pki directory mode %v, want 0700", got)
			}
			if got := mode(t, filepath.Dir(dir)); got != 0o700 {
				t.Errorf("data directory (created as a parent) mode %v, want 0700", got)
			}
			for _, name := range []string{pki.CAFile, pki.CAKeyFile, "orders.pem", pki.SelfSignedFile} {
				if got := mode(t, filepath.Join(dir, name)); got != 0o600 {
					t.Errorf("%s mode %v, want 0600", name, got)
				}
			}
		})
	}
}

func TestReopenTightensModes(t *testing.T) {
	permissiveUmask(t)
	dir := t.TempDir()
	open(t, dir, pki.Config{})
	if _, _, err := pki.SelfSigned(dir, nil); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]fs.FileMode{dir: 0o755, filepath.Join(dir, pki.CAFile): 0o644, filepath.Join(dir, pki.CAKeyFile): 0o644, filepath.Join(dir, pki.SelfSignedFile): 0o640} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	var logs logBuffer
	open(t, dir, pki.Config{Logger: logs.logger()})
	if _, _, err := pki.SelfSigned(dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %v, want 0700", got)
	}
	for _, name := range []string{pki.CAFile, pki.CAKeyFile, pki.SelfSignedFile} {
		if got := mode(t, filepath.Join(dir, name)); got != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, got)
		}
	}
	if n := strings.Count(logs.String(), "set the private mode"); n != 3 {
		t.Errorf("%d changes logged, want 3 (directory, ca.pem, ca-key.pem):\n%s", n, logs.String())
	}
}

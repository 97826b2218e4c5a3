package launcher

// An internal test: it replaces the unexported link hook to act as a
// filesystem without hard links, which no test machine can be relied on to
// mount.

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withLink makes createSecret's hard links fail with err for the test. The
// hook is package state: tests that call this must not run in parallel.
func withLink(t *testing.T, err error) {
	t.Helper()
	old := link
	link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	t.Cleanup(func() { link = old })
}

func TestCreateSecret(t *testing.T) {
	for _, tt := range []struct {
		name    string
		linkErr error // nil: the real os.Link
	}{
		{"hard links", nil},
		{"no hard links: EPERM (FAT on Linux)", syscall.EPERM},
		{"no hard links: ENOTSUP", syscall.ENOTSUP},
		{"no hard links: ENOSYS", syscall.ENOSYS},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.linkErr != nil {
				withLink(t, tt.linkErr)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "secret")
			created, err := createSecret(path, false)
			if err != nil || !created {
				t.Fatalf("createSecret = %v, %v; want true, nil", created, err)
			}
			first := readFile(t, path)
			if len(first) != 27 || first[26] != '\n' {
				t.Fatalf("secret %q: want 26 characters and a newline", first)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o077 != 0 {
				t.Fatalf("secret file: %v, %v; want no group or other permissions", st.Mode(), err)
			}

			// Not replaced when it exists,
			created, err = createSecret(path, false)
			if err != nil || created {
				t.Fatalf("second createSecret = %v, %v; want false, nil", created, err)
			}
			if got := readFile(t, path); got != first {
				t.Fatalf("secret changed from %q to %q", first, got)
			}
			// but with replace.
			created, err = createSecret(path, true)
			if err != nil || !created {
				t.Fatalf("createSecret(replace) = %v, %v; want true, nil", created, err)
			}
			if got := readFile(t, path); got == first || len(got) != 27 {
				t.Fatalf("replaced secret %q (was %q)", got, first)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("%d files left in the directory, want 1 (no temporary file)", len(entries))
			}
		})
	}
}

// Any other failure to link is an error, and leaves no file behind.
func TestCreateSecretLinkError(t *testing.T) {
	withLink(t, syscall.EIO)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	created, err := createSecret(path, false)
	if created || !errors.Is(err, syscall.EIO) {
		t.Fatalf("createSecret = %v, %v; want false, EIO", created, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("%d files left in the directory, want none", len(entries))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
)

// tmpPrefix begins the name of every temporary file the package writes
// beside its files; Open removes those a crash left behind.
const tmpPrefix = ".pki-tmp-"

// writeTemp writes data to a new temporary file in dir with mode exactly
// private.FileMode, synced to disk, and returns its name. The caller
// renames or links it into place and removes the name in any case.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", err
	}
	// CreateTemp asks for 0600, which a umask can only narrow; set it
	// exactly, as for every file under the data directory.
	err = f.Chmod(private.FileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// replaceFile puts data at path with one rename, so that a reader sees
// either the old file or the new one, whole.
func replaceFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(dir)
	return nil
}

// createFile puts data at path, whole, unless path exists, in which case
// it fails with an error wrapping fs.ErrExist and leaves path alone. The
// file is written aside and hard-linked into place, which fails if path
// exists. On a filesystem without hard links (FAT, some network and FUSE
// mounts) it is created with O_EXCL and written in place instead: it
// still never replaces a file, but a crash while writing can leave it
// short, which the reader reports as corrupt.
func createFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if err != nil && linkUnsupported(err) {
		return createExclusive(path, data)
	}
	if err == nil {
		syncDir(dir)
	}
	return err
}

// linkUnsupported reports whether err, from os.Link, means that the
// filesystem makes no hard links: ENOTSUP, EOPNOTSUPP or ENOSYS, or EPERM,
// which Linux returns for FAT (the file linked is our own, so EPERM has
// no other cause here).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission)
}

// createExclusive creates path with O_EXCL and mode private.FileMode and
// writes and syncs data to it. A file it failed to write is removed.
func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, private.FileMode)
	if err != nil {
		return err
	}
	err = f.Chmod(private.FileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// syncDir flushes the directory entry of a rename or link to disk, so
// that it survives a crash. It is best effort: some systems cannot sync a
// directory, and the file is in place for every reader either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// removeTemps removes the temporary files a crash left in dir. They hold
// private keys, so they are not left lying about, private as they are.
func removeTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove a leftover temporary file: %w", err)
			}
		}
	}
	return nil
}

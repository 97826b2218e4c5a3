package platform

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Modes of everything under the data directory: databases, signing keys,
// password files and logs are private to the owner whatever the umask.
const (
	// PrivateDirMode is the mode of the data directory and the
	// directories under it.
	PrivateDirMode fs.FileMode = 0o700
	// PrivateFileMode is the mode of every file under the data
	// directory.
	PrivateFileMode fs.FileMode = 0o600
)

// MkdirPrivate creates dir and any missing parents with [PrivateDirMode].
// If dir already exists with permissions for its group or others, they are
// removed ([Tighten]) and the change is logged to log (nil means
// slog.Default()).
func MkdirPrivate(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, PrivateDirMode); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return Tighten(dir, log)
}

// Tighten removes the group and other permission bits of the file or
// directory at path, if it has any, and logs the change to log (nil means
// slog.Default()). A missing path is not an error: there is nothing to
// tighten. Symbolic links are followed, as by os.Chmod.
func Tighten(path string, log *slog.Logger) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return tighten(path, st.Mode(), log)
}

// TightenTree tightens root and every directory and regular file under it
// as [Tighten] does. Symbolic links and special files are left alone (a
// link's target may lie outside root). A missing root is not an error.
func TightenTree(root string, log *slog.Logger) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile
		}
		if err != nil {
			return err
		}
		return tighten(path, info.Mode(), log)
	})
	if err != nil {
		return fmt.Errorf("platform: tighten %s: %w", root, err)
	}
	return nil
}

func tighten(path string, mode fs.FileMode, log *slog.Logger) error {
	perm := mode.Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("platform: removed group and other permissions: the data directory is private to its owner",
		"path", path, "was", perm.String(), "now", (perm &^ 0o077).String())
	return nil
}

// OpenPrivate opens the file at path for appending, creating it with
// [PrivateFileMode] if it does not exist, and tightens an existing one
// ([Tighten], logging to log). It suits log files.
func OpenPrivate(path string, log *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, PrivateFileMode)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("platform: %w", err)
	}
	if err := tighten(path, st.Mode(), log); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

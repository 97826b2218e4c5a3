package private

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
	// DirMode is the mode of the data directory and the
	// directories under it.
	DirMode fs.FileMode = 0o700
	// FileMode is the mode of every file under the data
	// directory.
	FileMode fs.FileMode = 0o600
)

// Mkdir creates dir and any missing parents with [DirMode].
// If dir already exists with another mode, it is set to DirMode
// ([Tighten]) and the change is logged to log (nil means slog.Default()).
func Mkdir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("private: %w", err)
	}
	return Tighten(dir, log)
}

// Tighten sets the mode of the directory at path to exactly
// [DirMode], or of the regular file at path to exactly
// [FileMode], if it is anything else, and logs the change to log
// (nil means slog.Default()). Exactly: the owner's bits are set too (a
// 0500 directory the owner cannot write to is as wrong for the data
// directory as a 0755 one), and setuid, setgid and sticky bits are
// cleared. Other kinds of file are left alone. A missing path is not an
// error: there is nothing to tighten. Symbolic links are followed, as by
// os.Chmod.
func Tighten(path string, log *slog.Logger) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("private: %w", err)
	}
	return tighten(path, st.Mode(), func(m fs.FileMode) error { return os.Chmod(path, m) }, log)
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
		return tighten(path, info.Mode(), func(m fs.FileMode) error { return os.Chmod(path, m) }, log)
	})
	if err != nil {
		return fmt.Errorf("private: tighten %s: %w", root, err)
	}
	return nil
}

// modeBits are the bits tighten sets: the permissions and the setuid,
// setgid and sticky bits.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// tighten gives the file at path, whose mode is mode, its private mode with
// chmod, and logs the change.
func tighten(path string, mode fs.FileMode, chmod func(fs.FileMode) error, log *slog.Logger) error {
	var want fs.FileMode
	switch {
	case mode.IsDir():
		want = DirMode
	case mode.IsRegular():
		want = FileMode
	default:
		return nil
	}
	if mode&modeBits == want {
		return nil
	}
	if err := chmod(want); err != nil {
		return fmt.Errorf("private: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("set the private mode: the data directory is its owner's alone",
		"path", path, "was", (mode & modeBits).String(), "now", want.String())
	return nil
}

// OpenAppend opens the file at path for appending, creating it with
// [FileMode] if it does not exist, and gives an existing one that
// mode as [Tighten] does, logging to log. The mode is read and set on the
// open file, never by path again, so the file that is returned is the one
// that was tightened even if the path is swapped meanwhile; a path that
// leads to something other than a regular file (a device) is left as it
// is. It suits log files.
func OpenAppend(path string, log *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, FileMode)
	if err != nil {
		return nil, fmt.Errorf("private: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("private: %w", err)
	}
	if err := tighten(path, st.Mode(), f.Chmod, log); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

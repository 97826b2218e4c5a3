package launcher

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Files the launcher keeps in the data directory, mode 0600.
const (
	// AdminPasswordFile holds the admin password "up" generates on first
	// start when none is given; later starts reuse it.
	AdminPasswordFile = "admin-password"
	// ChaosSecretFile holds the secret of the running launcher's chaos
	// control API, a new one each run; it is removed when the launcher
	// stops.
	ChaosSecretFile = "chaos-secret"
)

// Environment variables the launcher keeps from the children it does not
// mean them for.
var (
	envAdminPassword     = settings.EnvName("admin-password")
	envAdminPasswordFile = settings.EnvName("admin-password-file")
	envDB                = settings.EnvName("db")
)

// adminSecret is where the users children find the admin password.
type adminSecret struct {
	file string   // passed as --admin-password-file, or ""
	env  []string // added to the users children's environment, or nil
	note string   // for the banner: where the password is; never the password
}

// adminPassword decides how the users children get the admin password,
// generating one into <data>/AdminPasswordFile if none is given. A password
// from the environment is passed on in the users children's environment
// only, and is not written to disk: whoever gave it that way keeps it where
// they chose. A file is passed by name. The password itself never goes on a
// command line, which any local user can read.
func (l *launcher) adminPassword() (adminSecret, error) {
	switch {
	case l.cfg.AdminEmail == "":
		return adminSecret{note: "no admin account: --admin-email is empty"}, nil
	case l.cfg.AdminPassword != "":
		return adminSecret{
			env:  []string{envAdminPassword + "=" + l.cfg.AdminPassword},
			note: "password from $" + envAdminPassword,
		}, nil
	case l.cfg.AdminPasswordFile != "":
		// Refuse now, naming the flag, what the users children would
		// refuse: a missing, empty or group- or world-readable file.
		if err := l.checkPasswordFile(l.cfg.AdminPasswordFile); err != nil {
			return adminSecret{}, err
		}
		return adminSecret{file: l.cfg.AdminPasswordFile, note: "password in " + l.cfg.AdminPasswordFile}, nil
	}
	path := filepath.Join(l.cfg.Data, AdminPasswordFile)
	created, err := createSecret(path, false)
	if err != nil {
		return adminSecret{}, fmt.Errorf("launcher: admin password: %w", err)
	}
	if !created { // from an earlier run, made private by TightenTree
		if err := l.checkPasswordFile(path); err != nil {
			return adminSecret{}, fmt.Errorf("launcher: %w; delete %s and a new password is generated", err, path)
		}
	}
	note := "password in " + path
	if created {
		note += ", generated now"
	}
	return adminSecret{file: path, note: note}, nil
}

// checkPasswordFile reads the admin password file at path by the users
// service's own rules (settings.Service.ReadAdminPassword); errors
// wrap ErrConfig and name --admin-password-file.
func (l *launcher) checkPasswordFile(path string) error {
	c := settings.Service{AdminEmail: l.cfg.AdminEmail, AdminPasswordFile: path}
	_, err := c.ReadAdminPassword()
	return err
}

// childEnv returns the environment of a child of service: the launcher's
// own and Config.Env, without the admin password variables, which only the
// users children get, and only when the password came that way, and
// without the variables of the TLS flags, which the launcher passes
// itself.
func (l *launcher) childEnv(service string) []string {
	var env []string
	for _, kv := range append(os.Environ(), l.cfg.Env...) {
		k, _, _ := strings.Cut(kv, "=")
		if k == envAdminPassword || k == envAdminPasswordFile || k == envDB || isTLSEnv(kv) {
			continue
		}
		env = append(env, kv)
	}
	if service == "users" {
		env = append(env, l.admin.env...)
	}
	if l.cfg.DB != "" && service != GatewayService {
		env = append(env, envDB+"="+l.cfg.DB)
	}
	return env
}

// createSecret writes a new random secret (crypto/rand, 130 bits as 26
// base32 characters and a newline) to path with mode 0600. With replace
// false an existing file is kept and created is false; with replace true
// it is replaced. The secret is written and synced to a temporary file
// first, then renamed over path (replace) or hard-linked to it, which fails
// if path exists, so the file appears whole or not at all. On a filesystem
// without hard links (FAT, some network and FUSE mounts) the file is
// instead created with O_EXCL and written in place: it still never
// replaces a secret, but a crash while writing can leave it empty, which
// readSecret and the admin password check refuse with an error that names
// the file.
func createSecret(path string, replace bool) (created bool, err error) {
	secret := rand.Text() + "\n"
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if replace {
		return true, os.Rename(tmp.Name(), path)
	}
	err = link(tmp.Name(), path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil // a secret already there is kept
	case linkUnsupported(err):
		return createExclusive(path, secret)
	}
	return false, err
}

// link is os.Link; tests replace it to act as a filesystem without hard
// links.
var link = os.Link

// linkUnsupported reports whether err, from link, means the filesystem
// cannot make hard links: ENOTSUP, EOPNOTSUPP or ENOSYS, or EPERM, which
// Linux returns for filesystems such as FAT (the temporary file is ours,
// so EPERM has no other cause here).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission)
}

// createExclusive creates path with O_EXCL and mode 0600 and writes and
// syncs secret to it; created is false when path exists. A file it failed
// to write is removed.
func createExclusive(path, secret string) (created bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, private.FileMode)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.WriteString(secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}

// readSecret reads a secret from path: the file's content without its
// trailing line ends, which must not be empty.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

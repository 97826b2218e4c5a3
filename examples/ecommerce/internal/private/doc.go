// Package private keeps the shop's data directory private to its owner:
// directories [DirMode] (0700) and files [FileMode] (0600) whatever the
// umask, with wider modes found tightened and logged. Databases, signing
// keys, password files and logs all live under it.
package private

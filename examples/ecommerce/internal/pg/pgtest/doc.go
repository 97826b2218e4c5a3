// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server named by the environment variable [ServerEnv], following the
// same rule as the browser tests: when the variable is unset the test is
// skipped, unless [RequireEnv] is set (to anything), in which case it fails.
// .ci/run starts a throwaway server and sets both.
package pgtest

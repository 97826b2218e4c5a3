// Package settings is the command-line configuration every "ecommerce
// serve" role shares: the [Service] flags (--registry, --listen, --data,
// --admin-email, --admin-password-file, --tls-*, --db), the ECOMMERCE_* environment
// variable that stands in for each flag ([ParseFlags], [EnvName]), the
// admin password's rules, and the checks that name the bad flag in their
// errors ([ErrConfig]).
//
// It imports nothing of the shop's, so every other package may use it.
package settings

// Package outcome decides, once for the whole library, what an error from a
// call says about the server that answered it.
//
// Outlier detection, the circuit breaker and retries all need the same
// answer to "was this the server's fault?": a timeout, a connection error or
// a 5xx is a server-health failure and counts against the instance; a 4xx
// or a cancellation by the caller is not. Keeping the rule in one leaf
// package means the three never disagree, and a user who needs another rule
// replaces one [Classifier].
package outcome

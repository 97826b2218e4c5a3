// Package outcome decides, once for the whole library, what an error from a
// call says about the server that answered it.
//
// Outlier detection, the circuit breaker and retries all need the same
// answer to "was this the server's fault?": a timeout, a connection error or
// a 5xx is a server-health failure and counts against the instance; a 4xx
// is an answer about the request, not a failure. Three outcomes are
// neutral, neither failure nor success: the caller gave up ([Canceled]),
// the caller's side broke its own request — an unreadable or oversized
// body, a hang-up mid-upload — ([Aborted], marked with [Abort] where the
// body is read), or a local guard refused the call ([Skipped]). Timeouts
// carry their owner in the context's cause: a budget given to the callee
// ([WithTimeout], [ErrTimeout]) blames the callee when it runs out, a
// deadline the caller chose does not. Keeping the rule in one leaf
// package means the three never disagree, and a user who needs another rule
// replaces one [Classifier].
package outcome

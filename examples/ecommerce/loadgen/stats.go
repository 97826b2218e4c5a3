package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Names of the operations the loadgen reports.
const (
	OpSignup        = "signup"
	OpLogin         = "login"
	OpListProducts  = "list_products"
	OpGetProduct    = "get_product"
	OpPlaceOrder    = "place_order"
	OpCancelOrder   = "cancel_order"
	OutcomeOK       = "ok"
	OutcomeNet      = "net_error"
	OutcomeTimeout  = "timeout"
	OutcomeNoStock  = "409 out_of_stock"
	OutcomeRejected = "dropped"
)

// Stats collects the outcomes of one operation. The zero value is empty and
// ready to use; it is safe for concurrent use.
type Stats struct {
	mu        sync.Mutex // guards the fields below
	latencies []time.Duration
	ok        int
	failures  map[string]int
}

// Record adds one finished operation that took d. outcome is OutcomeOK for
// a success and otherwise names the failure: an HTTP status ("503"), a
// status and code ("409 out_of_stock"), OutcomeNet or OutcomeTimeout.
func (s *Stats) Record(d time.Duration, outcome string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, d)
	if outcome == OutcomeOK {
		s.ok++
		return
	}
	if s.failures == nil {
		s.failures = map[string]int{}
	}
	s.failures[outcome]++
}

// Summary is what a [Stats] holds, condensed.
type Summary struct {
	Count int // finished operations
	OK    int // of which succeeded
	// Latency percentiles (nearest rank) and maximum over every finished
	// operation, failed ones included; zero when Count is zero.
	P50, P90, P99, Max time.Duration
	// Failures counts the failed operations by outcome.
	Failures map[string]int
}

// Summary condenses the operations recorded so far.
func (s *Stats) Summary() Summary {
	s.mu.Lock()
	lat := slices.Clone(s.latencies)
	sum := Summary{Count: len(lat), OK: s.ok, Failures: maps.Clone(s.failures)}
	s.mu.Unlock()
	if len(lat) == 0 {
		return sum
	}
	slices.Sort(lat)
	sum.P50 = percentile(lat, 0.50)
	sum.P90 = percentile(lat, 0.90)
	sum.P99 = percentile(lat, 0.99)
	sum.Max = lat[len(lat)-1]
	return sum
}

// percentile returns the nearest-rank p-quantile of sorted, non-empty lat.
func percentile(lat []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(lat)))) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// Report is the result of a run.
type Report struct {
	// Ops holds a summary per operation name (OpPlaceOrder, ...).
	Ops map[string]Summary
	// Planned is the number of operations the schedule started or
	// dropped; Dropped of them were not started because --max-in-flight
	// operations were already running.
	Planned, Dropped int
	// Elapsed is the length of the timed phase.
	Elapsed time.Duration
	// Rate is the target rate in operations per second.
	Rate float64
	// Chaos lists the replicas killed with --chaos, one line each.
	Chaos []string
}

// Failed returns the number of failed operations of the timed phase,
// out-of-stock answers excluded (they are the shop working as it should).
func (r *Report) Failed() int {
	n := 0
	for name, s := range r.Ops {
		if name == OpSignup {
			continue // set-up only: a failed sign-up aborts the run
		}
		for outcome, c := range s.Failures {
			if outcome != OutcomeNoStock {
				n += c
			}
		}
	}
	return n
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "operation\tcount\tok\tp50\tp90\tp99\tmax\tfailures")
	for _, name := range []string{OpSignup, OpLogin, OpListProducts, OpGetProduct, OpPlaceOrder, OpCancelOrder} {
		s, ok := r.Ops[name]
		if !ok || s.Count == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", name, s.Count, s.OK,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), failures(s.Failures))
	}
	tw.Flush()
	done := r.Planned - r.Dropped
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(done) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "\n%d operations in %s: %.1f/s (target %.1f/s); %d dropped at the in-flight cap; %d failed (out of stock excluded)\n",
		done, r.Elapsed.Round(time.Millisecond), rate, r.Rate, r.Dropped, r.Failed())
	for _, c := range r.Chaos {
		fmt.Fprintln(w, "chaos:", c)
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func failures(f map[string]int) string {
	if len(f) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, f[k]))
	}
	return strings.Join(parts, " ")
}

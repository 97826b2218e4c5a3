package loadgen_test

import (
	"fmt"
	"os"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/loadgen"
)

func ExampleStats() {
	var s loadgen.Stats
	for i := 1; i <= 100; i++ {
		outcome := loadgen.OutcomeOK
		if i%25 == 0 {
			outcome = "503"
		}
		s.Record(time.Duration(i)*time.Millisecond, outcome)
	}
	sum := s.Summary()
	fmt.Println(sum.Count, sum.OK, sum.P50, sum.P90, sum.P99, sum.Max, sum.Failures)
	// Output: 100 96 50ms 90ms 99ms 100ms map[503:4]
}

func ExampleReport_Print() {
	var orders loadgen.Stats
	orders.Record(12*time.Millisecond, loadgen.OutcomeOK)
	orders.Record(30*time.Millisecond, loadgen.OutcomeNoStock)
	rep := &loadgen.Report{
		Ops:     map[string]loadgen.Summary{loadgen.OpPlaceOrder: orders.Summary()},
		Planned: 2,
		Elapsed: time.Second,
		Rate:    2,
	}
	rep.Print(os.Stdout)
	// Output:
	// operation    count  ok  p50     p90     p99     max     failures
	// place_order  2      1   12.0ms  30.0ms  30.0ms  30.0ms  409 out_of_stock×1
	//
	// 2 operations in 1s: 2.0/s (target 2.0/s); 0 dropped at the in-flight cap; 0 failed (out of stock excluded)
}

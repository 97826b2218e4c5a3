// Package bench measures Switchyard beside the libraries it is compared
// with, in the same run, on the same machine. It is its own module so that
// users of Switchyard never download those libraries.
//
//	go test -run='^$' -bench=. -benchmem -count=6 . | tee new.txt   # pick workloads
//	go run ./taillatency                                           # slow-instance tail latency
//
// The numbers in docs/performance.md were produced by these commands.
package bench

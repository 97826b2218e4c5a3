package ratelimit_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/switchyard/switchyard/middleware/ratelimit"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fill offers n distinct keys of the form "client-0000123" to l.
func fill(l *ratelimit.Limiter, n int) {
	ctx := context.Background()
	buf := []byte("client-")
	for i := range n {
		b := strconv.AppendInt(buf[:7], int64(i), 10)
		l.Acquire(ctx, string(b))
	}
}

// One million distinct keys through a default limiter: it keeps at most
// 100,000 of them, in at most 300 bytes of heap each.
func TestPerKeyMemoryIsBounded(t *testing.T) {
	const keys = 1_000_000
	before := heapAlloc()
	l := newLimiter(t, 100, 20, ratelimit.Config{Key: byKey})
	fill(l, keys)
	after := heapAlloc()
	held := l.Len()
	if held > ratelimit.DefaultMaxKeys {
		t.Fatalf("holds %d keys, cap %d", held, ratelimit.DefaultMaxKeys)
	}
	if held < ratelimit.DefaultMaxKeys*9/10 {
		t.Fatalf("holds only %d keys; the shards should be nearly full", held)
	}
	var grown uint64
	if after > before {
		grown = after - before
	}
	perKey := float64(grown) / float64(held)
	t.Logf("%d distinct keys offered, %d held, heap grew %d bytes: %.0f bytes per held key", keys, held, grown, perKey)
	if perKey > 300 {
		t.Fatalf("%.0f bytes per held key, budget 300", perKey)
	}
	runtime.KeepAlive(l)
}

// BenchmarkPerKeyDistinctKeys feeds b.N distinct keys (so, past 100,000,
// every call evicts one) and reports the heap held per retained key.
func BenchmarkPerKeyDistinctKeys(b *testing.B) {
	before := heapAlloc()
	l := newLimiter(b, 100, 20, ratelimit.Config{Key: byKey})
	ctx := context.Background()
	buf := []byte("client-")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		l.Acquire(ctx, string(strconv.AppendInt(buf[:7], int64(i), 10)))
	}
	b.StopTimer()
	after := heapAlloc()
	if n := l.Len(); n > 0 && after > before {
		b.ReportMetric(float64(after-before)/float64(n), "heapB/key")
		b.ReportMetric(float64(n), "keys")
	}
	runtime.KeepAlive(l)
}

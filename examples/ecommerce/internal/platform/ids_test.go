package platform_test

import (
	"regexp"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^prd_[a-z2-7]{20}$`)
	seen := make(map[string]bool)
	for range 10000 {
		id := platform.NewID("prd")
		if !re.MatchString(id) {
			t.Fatalf("NewID = %q, want prd_ and 20 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			_ = platform.NewID("ord")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = platform.NewID("ord")
			}
		})
	})
}

package ids_test

import (
	"regexp"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
)

func TestNew(t *testing.T) {
	re := regexp.MustCompile(`^prd_[a-z2-7]{20}$`)
	seen := make(map[string]bool)
	for range 10000 {
		id := ids.New("prd")
		if !re.MatchString(id) {
			t.Fatalf("New = %q, want prd_ and 20 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("New repeated %q", id)
		}
		seen[id] = true
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			_ = ids.New("ord")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = ids.New("ord")
			}
		})
	})
}

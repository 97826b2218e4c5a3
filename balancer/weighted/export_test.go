package weighted

import (
	"math"

	"github.com/switchyard/switchyard/balancer"
)

// Kind reports which structure a picker built by Policy uses.
func Kind(p balancer.Picker) string {
	switch p.(type) {
	case single:
		return "single"
	case *rotation:
		return "rotation"
	case *schedule:
		return "schedule"
	case *alias:
		return "alias"
	}
	return "unknown"
}

// Column is one column of an alias table: the pick stays on Host with
// probability Stay and goes to Alias otherwise.
type Column struct {
	Stay        float64
	Host, Alias *balancer.Host
}

// Columns returns the alias table of p, or nil if p is not an alias picker.
func Columns(p balancer.Picker) []Column {
	a, ok := p.(*alias)
	if !ok {
		return nil
	}
	out := make([]Column, len(a.cols))
	for i, c := range a.cols {
		out[i] = Column{Stay: float64(c.stay) / (1 << 64), Host: c.host, Alias: c.alias}
		if c.stay == math.MaxUint64 {
			out[i].Stay = 1
		}
	}
	return out
}

package maglev

import "github.com/switchyard/switchyard/balancer"

// Slots returns the lookup table of a Maglev picker (host indexes), or nil
// for the single-host picker.
func Slots(p balancer.Picker) []uint32 {
	t, ok := p.(*table)
	if !ok {
		return nil
	}
	return t.slots
}

// BuildWeighted builds like Policy.Build but always runs the weighted
// fill, so tests can compare it with the equal-weight fill.
func BuildWeighted(p Policy, hosts []*balancer.Host) balancer.Picker {
	return p.build(hosts, true)
}

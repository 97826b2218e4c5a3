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

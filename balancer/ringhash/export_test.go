package ringhash

import "github.com/switchyard/switchyard/balancer"

// Ring returns the positions and owner indexes of a ring picker, or nils
// for the single-host picker.
func Ring(p balancer.Picker) (hashes []uint64, owners []uint32) {
	r, ok := p.(*ring)
	if !ok {
		return nil, nil
	}
	return r.hashes, r.owners
}

// Search returns the index of the ring entry a key hashing to x maps to.
func Search(p balancer.Picker, x uint64) int { return p.(*ring).search(x) }

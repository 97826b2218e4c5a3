// Package xhash is a small, stable 64-bit string hash for consistent
// hashing. Unlike hash/maphash its output is the same in every process, so
// separate clients agree on which instance owns a key.
package xhash

// String hashes s with FNV-1a and a murmur3 finalizer, which repairs
// FNV's weak mixing of the high bits. It does not allocate.
func String(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return Mix(h)
}

// Mix is the murmur3 64-bit finalizer: a bijection that spreads every input
// bit over the output.
func Mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

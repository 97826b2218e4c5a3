package balancer

import (
	"slices"
	"strings"
)

func sortHosts(hs []*Host) {
	if slices.IsSortedFunc(hs, cmpHost) {
		return
	}
	slices.SortFunc(hs, cmpHost)
}

func cmpHost(a, b *Host) int { return strings.Compare(a.Instance.ID, b.Instance.ID) }

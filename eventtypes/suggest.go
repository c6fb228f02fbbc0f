package eventtypes

import (
	"cmp"
	"slices"
	"strings"
)

const (
	maxSuggestions = 3
	// Names longer than this get no suggestions: the distance is quadratic
	// and the input may come from an untrusted form.
	maxSuggestInput = 256
)

// suggest returns up to maxSuggestions candidates close to name (compared in
// lower case), closest first, ties broken by name.
func suggest(name string, candidates []string) []string {
	if len(name) > maxSuggestInput {
		return nil
	}
	name = strings.ToLower(name)
	limit := max(2, len(name)/4)
	type scored struct {
		name string
		dist int
	}
	// A truncated action ("shipping.label") is as good as one typo away from
	// the names it starts ("shipping.label_created").
	_, act, split := SplitName(name)
	truncated := split && len(act) >= 3
	var found []scored
	for _, c := range candidates {
		d := editDistance(name, c)
		if truncated && strings.HasPrefix(c, name) {
			d = min(d, 1)
		}
		if d <= limit {
			found = append(found, scored{c, d})
		}
	}
	slices.SortFunc(found, func(a, b scored) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), strings.Compare(a.name, b.name))
	})
	var out []string
	for i := 0; i < len(found) && i < maxSuggestions; i++ {
		// A candidate much farther than the best one is noise.
		if found[i].dist > found[0].dist+1 {
			break
		}
		out = append(out, found[i].name)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent bytes
// each cost one, so "creatd" and "cretaed" are both one edit from "created".
func editDistance(a, b string) int {
	// Three rows: the one before the previous is needed for transpositions.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

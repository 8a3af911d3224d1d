package delivery

import (
	"github.com/minato-project/minato/internal/events/pattern"
)

// index finds the rules of a bus an event may match without testing each:
// every rule whose pattern requires exact strings somewhere is filed under
// its most selective such field (the path whose strings the fewest other
// rules share) and each of those strings; the others are always tested.
// An event is then tested against the rules filed under its own values at
// the indexed paths, and the rest.
type index struct {
	paths  [][]string
	byKey  map[string][]*rule // PathKey + "\x01" + value
	always []*rule
}

func buildIndex(rules []*rule) *index {
	ix := &index{byKey: map[string][]*rule{}}
	count := map[string]int{}
	lits := make([]map[string][]string, len(rules))
	for i, r := range rules {
		if r.pattern == nil {
			continue
		}
		lits[i] = r.pattern.LiteralPaths()
		for p, vs := range lits[i] {
			for _, v := range vs {
				count[p+"\x01"+v]++
			}
		}
	}
	paths := map[string]bool{}
	for i, r := range rules {
		if r.pattern == nil {
			continue
		}
		best, bestCost := "", 0
		for p, vs := range lits[i] {
			cost := 0
			for _, v := range vs {
				cost += count[p+"\x01"+v]
			}
			if best == "" || cost < bestCost || (cost == bestCost && p < best) {
				best, bestCost = p, cost
			}
		}
		if best == "" {
			ix.always = append(ix.always, r)
			continue
		}
		paths[best] = true
		for _, v := range lits[i][best] {
			ix.byKey[best+"\x01"+v] = append(ix.byKey[best+"\x01"+v], r)
		}
	}
	for p := range paths {
		ix.paths = append(ix.paths, pattern.SplitPathKey(p))
	}
	return ix
}

// candidates calls f for each rule event may match (a rule at most once).
func (ix *index) candidates(event map[string]any, f func(r *rule)) {
	for _, r := range ix.always {
		f(r)
	}
	var seen map[*rule]bool
	var vals []string
	for _, p := range ix.paths {
		key := pattern.PathKey(p) + "\x01"
		vals = pattern.Values(event, p, vals[:0])
		for _, v := range vals {
			for _, r := range ix.byKey[key+v] {
				if len(vals) > 1 {
					if seen == nil {
						seen = map[*rule]bool{}
					}
					if seen[r] {
						continue
					}
					seen[r] = true
				}
				f(r)
			}
		}
	}
}

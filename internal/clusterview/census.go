package clusterview

import "sort"

// ClusterCensus is what a cluster holds, counted for the operators'
// /metrics: its tasks by lastStatus and its container instances.
type ClusterCensus struct {
	Cluster   string
	Tasks     map[string]int // by lastStatus
	Instances []string       // the IDs of its container instances that are not INACTIVE
}

// Census counts every cluster's tasks by lastStatus and lists its
// container instances, in one pass under the view's read lock (a scrape,
// not a hot path), ordered by cluster name.
func (v *View) Census() []ClusterCensus {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]ClusterCensus, 0, len(v.idx.clusters))
	for name, c := range v.idx.clusters {
		cc := ClusterCensus{Cluster: name, Tasks: map[string]int{}}
		for _, tn := range c.tasks {
			cc.Tasks[tn.t.LastStatus().String()]++
		}
		for _, in := range c.sorted {
			if in.rec != nil && in.rec.Status != "INACTIVE" {
				cc.Instances = append(cc.Instances, in.id)
			}
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}

package clusterview

import (
	"strings"
	"sync"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// maxAttrSets bounds the interner; past it, it starts over (what it handed
// out stays valid).
const maxAttrSets = 4096

// attrInterner shares the attributes of container instances that have the
// same ones: a fleet's hosts differ in a handful of attribute sets (zone,
// instance type), and an agent registers some 30 attributes, so sharing
// them saves most of what an instance costs the view.
type attrInterner struct {
	mu   sync.Mutex
	sets map[string]*attrSet
}

// attrSet is one set of attributes, read-only: the slice records share,
// and the map placement reads.
type attrSet struct {
	attrs []ecstypes.Attribute
	m     map[string]string
}

// intern returns the shared set equal to attrs.
func (in *attrInterner) intern(attrs []ecstypes.Attribute) *attrSet {
	var b strings.Builder
	for _, a := range attrs {
		b.WriteString(a.Name)
		b.WriteByte(0)
		b.WriteString(a.Value)
		b.WriteByte(0)
	}
	key := b.String()
	in.mu.Lock()
	defer in.mu.Unlock()
	if s := in.sets[key]; s != nil {
		return s
	}
	if in.sets == nil || len(in.sets) >= maxAttrSets {
		in.sets = map[string]*attrSet{}
	}
	s := &attrSet{attrs: attrs, m: make(map[string]string, len(attrs))}
	for _, a := range attrs {
		s.m[a.Name] = a.Value
	}
	in.sets[key] = s
	return s
}

// Package testutil holds helpers shared by minato's tests.
package testutil

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// JSONSubset reports where got lacks something want has: every object key of
// want must be in got with a value that is itself a subset; arrays must have
// the same length with elementwise subsets; scalars must be equal (numbers
// compared as float64). Both are any JSON-marshalable values.
func JSONSubset(want, got any) error {
	w, err := normalize(want)
	if err != nil {
		return err
	}
	g, err := normalize(got)
	if err != nil {
		return err
	}
	return subset("$", w, g)
}

func normalize(v any) (any, error) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case json.RawMessage:
		b = x
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func subset(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", path, k)
			}
			if err := subset(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %d elements, got %v", path, len(w), got)
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: want %v, got %v", path, want, got)
		}
		return nil
	}
}

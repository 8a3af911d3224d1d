package testutil

import "testing"

func TestJSONSubset(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		ok        bool
	}{
		{"equal", `{"a":1}`, `{"a":1}`, true},
		{"extra keys in got", `{"a":1}`, `{"a":1,"b":[]}`, true},
		{"nested", `{"a":{"b":[{"c":"x"}]}}`, `{"a":{"b":[{"c":"x","d":0}]}}`, true},
		{"missing key", `{"a":1}`, `{"b":1}`, false},
		{"different value", `{"a":false}`, `{"a":true}`, false},
		{"array length", `{"a":[1,2]}`, `{"a":[1]}`, false},
		{"type", `{"a":"1"}`, `{"a":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := JSONSubset([]byte(tt.want), []byte(tt.got))
			if (err == nil) != tt.ok {
				t.Fatalf("JSONSubset(%s, %s) = %v, want ok=%v", tt.want, tt.got, err, tt.ok)
			}
		})
	}
}

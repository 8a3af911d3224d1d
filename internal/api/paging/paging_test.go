package paging

import "testing"

func TestTokenRoundTrip(t *testing.T) {
	for _, key := range []string{"ecs/clusters/a", "ecs/taskdefs/my-app/0000000003", "x"} {
		got, ok := Decode(Encode(key))
		if !ok || got != key {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", key, got, ok)
		}
	}
	if after, ok := Decode(""); !ok || after != "" {
		t.Fatalf("empty token: %q, %v", after, ok)
	}
	for _, bad := range []string{"!!!", "bm90LWpzb24", "e30"} { // garbage, "not-json", "{}"
		if _, ok := Decode(bad); ok {
			t.Fatalf("Decode(%q) accepted a token minato never issued", bad)
		}
	}
}

func TestLimit(t *testing.T) {
	i := func(v int32) *int32 { return &v }
	tests := []struct {
		name string
		in   *int32
		want int
		ok   bool
	}{
		{"absent", nil, 100, true},
		{"one", i(1), 1, true},
		{"max", i(100), 100, true},
		{"zero", i(0), 0, false},
		{"over", i(101), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := Limit(tt.in, 100, 100)
			if n != tt.want || ok != tt.ok {
				t.Fatalf("Limit = %d, %v; want %d, %v", n, ok, tt.want, tt.ok)
			}
		})
	}
}

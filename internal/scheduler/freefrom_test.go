package scheduler

import (
	"slices"
	"testing"
)

func TestFreeFrom(t *testing.T) {
	r := PortRange{From: 100, To: 109}
	tests := []struct {
		name  string
		used  []int
		n     int
		start int
		want  []int
	}{
		{"from start", nil, 3, 105, []int{105, 106, 107}},
		{"wraps around", []int{108}, 3, 107, []int{107, 109, 100}},
		{"start outside the range", nil, 2, 5, []int{100, 101}},
		{"not enough", []int{100, 101, 102, 103, 104, 105, 106, 107, 108}, 2, 100, nil},
		{"exactly the last free one", []int{100, 101, 102, 103, 104, 105, 106, 107, 108}, 1, 103, []int{109}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := freeFrom(tt.used, r, tt.n, tt.start); !slices.Equal(got, tt.want) {
				t.Fatalf("freeFrom = %v, want %v", got, tt.want)
			}
		})
	}
}

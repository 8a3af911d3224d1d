package ssmtypes

import (
	"strings"
	"testing"
)

// BenchmarkValidatePutParameter is the cost of the model's checks on a
// typical PutParameter request and on one whose AllowedPattern is 9 MiB:
// the length limit (1,024 characters) is checked first and reads no more
// than 1,025 characters, so the oversized request costs no more than the
// typical one. docs/BENCHMARKS.md records it.
func BenchmarkValidatePutParameter(b *testing.B) {
	for _, bc := range []struct {
		name    string
		pattern string
	}{
		{"typical", `^[a-z0-9.-]{1,64}$`},
		{"9MiB-pattern", strings.Repeat("(a|aa)*", 9<<20/7)},
	} {
		req := &PutParameterRequest{Name: "/app/prod/db/host", Value: "db.internal", Type: ParameterTypeString,
			AllowedPattern: bc.pattern, Tags: []Tag{{Key: "env", Value: "prod"}}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = req.Validate()
			}
		})
	}
}

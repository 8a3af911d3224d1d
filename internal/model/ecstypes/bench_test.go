package ecstypes

import (
	"encoding/json"
	"testing"
)

// BenchmarkValidateRegisterTaskDefinition is the cost of the model's checks
// on a typical RegisterTaskDefinition request (two containers, secrets,
// health checks, a log configuration, tags): what every such call pays
// before its handler runs. docs/BENCHMARKS.md records it.
func BenchmarkValidateRegisterTaskDefinition(b *testing.B) {
	var req RegisterTaskDefinitionRequest
	if err := json.Unmarshal([]byte(registerTaskDefinition), &req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := req.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRegisterTaskDefinition is the JSON decoding of the same
// request, for scale: the Validate cost is a fraction of it.
func BenchmarkDecodeRegisterTaskDefinition(b *testing.B) {
	body := []byte(registerTaskDefinition)
	b.ReportAllocs()
	for b.Loop() {
		var req RegisterTaskDefinitionRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

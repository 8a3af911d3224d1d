// Package compat renders the AWS compatibility matrix (docs/compatibility.md)
// from the code: the operations of each AWS model, which of them minato
// serves, and the notes each API package keeps beside its handlers. A test
// fails when the document drifts from the code.
package compat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/model/shape"
)

// Service is one AWS service as minato serves it.
type Service struct {
	Name        string                     // e.g. "Amazon ECS"
	CLI         string                     // the aws CLI command, e.g. "ecs"
	Model       map[string]shape.Operation // every operation of the AWS model
	Implemented []string                   // operations minato serves
	Notes       map[string]string          // per implemented operation
}

// Render returns the Markdown document.
func Render(services []Service) string {
	var b strings.Builder
	b.WriteString("# AWS compatibility matrix\n\n")
	b.WriteString("<!-- Generated from the code by `go test ./internal/api/compat -update`. Do not edit by hand. -->\n\n")
	b.WriteString("Which operations of each AWS API minato serves, and how. Every operation of the official AWS model is\n")
	b.WriteString("listed; those minato does not serve yet answer `UnknownOperationException` (JSON) or `InvalidAction`\n")
	b.WriteString("(Query). Deliberate differences from AWS are collected in [differences.md](differences.md).\n\n")
	b.WriteString("A call to an AWS service that is not in this table (Amazon EKS, AWS App Mesh, AWS CodeDeploy, AWS CloudFormation,\n")
	b.WriteString("...) is answered in the protocol its client expects, `UnknownOperationException` (JSON, REST-JSON) or\n")
	b.WriteString("`InvalidAction` (Query, REST-XML), with the message \"minato does not serve the <service> API (signing name\n")
	b.WriteString("<name>)\": the SigV4 credential scope of the call names the service.\n\n")
	b.WriteString("| Service | Served | In the AWS model |\n|---|---:|---:|\n")
	for _, s := range services {
		fmt.Fprintf(&b, "| %s (`aws %s`) | %d | %d |\n", s.Name, s.CLI, len(s.Implemented), len(s.Model))
	}
	for _, s := range services {
		fmt.Fprintf(&b, "\n## %s (`aws %s`)\n\n", s.Name, s.CLI)
		b.WriteString("| Operation | minato | Notes |\n|---|---|---|\n")
		names := make([]string, 0, len(s.Model))
		for name := range s.Model {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			mark := "—"
			if slices.Contains(s.Implemented, name) {
				mark = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", name, mark, s.Notes[name])
		}
	}
	return b.String()
}

// Unknown returns the implemented operations that are not in the model:
// a misspelt handler name would otherwise never be reached.
func Unknown(s Service) []string {
	var out []string
	for _, name := range s.Implemented {
		if _, ok := s.Model[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

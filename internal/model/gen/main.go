// Command gen turns an AWS botocore service model (service-2.json, plus
// paginators-1.json when present) into Go wire types for minato.
//
// Usage (from internal/model, as the //go:generate lines in doc.go run it):
//
//	go run ./gen -models ../../../shared/aws-models -service ecs -out ecstypes
//
// Flags:
//
//	-models DIR   directory holding one <service>/service-2.json per service (required)
//	-service NAME model directory under -models, e.g. ecs, sts, elbv2 (required)
//	-out DIR      output directory; created if missing (required)
//	-pkg NAME     Go package name (default: service name, non-letters dropped, + "types")
//	-file NAME    output file name inside -out (default "api_gen.go")
//	-nullable     auto|true|false: make every integer/long/float/double/boolean
//	              member a pointer. auto (the default) means true for query-protocol
//	              services, whose botocore models carry no "box" traits, and false
//	              for JSON services, where only boxed shapes and members are pointers.
//	-require LIST comma-separated Shape.member pairs to treat as required beyond
//	              what the model says, for rules the real service enforces but the
//	              model leaves out (ECS: ContainerDefinition.name, .image)
//	-invalid CODE the error code the real service answers a request that breaks
//	              the model's constraints with (default: ValidationError for
//	              query-protocol services, else ValidationException)
//	-shape IMPORT import path of the runtime package (default minato's internal/model/shape)
//
// What it writes is described in internal/model/doc.go.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	models := fs.String("models", "", "directory holding <service>/service-2.json")
	service := fs.String("service", "", "service model directory name, e.g. ecs")
	out := fs.String("out", "", "output directory")
	pkg := fs.String("pkg", "", "Go package name (default <service>types)")
	file := fs.String("file", "api_gen.go", "output file name")
	nullable := fs.String("nullable", "auto", "auto|true|false: all numeric and boolean members are pointers")
	require := fs.String("require", "", "comma-separated Shape.member pairs to treat as required")
	invalid := fs.String("invalid", "", "error code for requests that break the model's constraints")
	shapeImport := fs.String("shape", "github.com/minato-project/minato/internal/model/shape", "import path of the shape runtime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *models == "" || *service == "" || *out == "" {
		return fmt.Errorf("-models, -service and -out are required (see -h)")
	}
	if *pkg == "" {
		*pkg = strings.Map(func(r rune) rune {
			if r < unicode.MaxASCII && unicode.IsLetter(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, *service) + "types"
	}
	m, pages, err := loadModel(filepath.Join(*models, *service))
	if err != nil {
		return err
	}
	if err := addRequired(m, *require); err != nil {
		return err
	}
	opt := options{Service: *service, Pkg: *pkg, ShapeImport: *shapeImport, ValidationCode: *invalid}
	switch *nullable {
	case "auto":
		opt.Nullable = m.Metadata.speaksQuery()
	case "true":
		opt.Nullable = true
	case "false":
	default:
		return fmt.Errorf("-nullable must be auto, true or false, not %q", *nullable)
	}
	src, err := generate(m, pages, opt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, *file), src, 0o644)
}

// addRequired marks the Shape.member pairs in list (comma-separated) as
// required, failing on names the model does not have.
func addRequired(m *apiModel, list string) error {
	for pair := range strings.SplitSeq(list, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		shapeName, memberName, ok := strings.Cut(pair, ".")
		sh := m.Shapes[shapeName]
		if !ok || sh == nil || sh.Type != "structure" {
			return fmt.Errorf("-require %q: no structure %q", pair, shapeName)
		}
		found := false
		for _, mem := range sh.Members {
			found = found || mem.Name == memberName
		}
		if !found {
			return fmt.Errorf("-require %q: %s has no member %q", pair, shapeName, memberName)
		}
		if !slices.Contains(sh.Required, memberName) {
			sh.Required = append(sh.Required, memberName)
		}
	}
	return nil
}

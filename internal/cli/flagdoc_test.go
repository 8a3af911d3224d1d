package cli

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the flag sets")

const cliDocPath = "../../docs/cli.md"

// docs/cli.md is rendered from the commands' real flag sets; the test
// fails when it is stale.
func TestCLIDocIsCurrent(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "$XDG_DATA_HOME") // defaults as the doc explains them
	sets := collectFlagSets()
	for _, c := range commands() {
		if sets[c.name] == nil {
			t.Errorf("minato %s made no flag set with newFlagSet: the reference cannot list its flags", c.name)
		}
	}
	got := renderCLIDoc(sets)
	for _, want := range []string{"`--write-aws-profile string`", "`--data-dir string` | `$XDG_DATA_HOME/minato`", "`--no-agent` |  |", "`MINATO_AGENT_TOKEN`"} {
		if !strings.Contains(got, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
	if *update {
		if err := os.WriteFile(cliDocPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(cliDocPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatal("docs/cli.md is out of date: run go test ./internal/cli -run TestCLIDocIsCurrent -update (make docs)")
	}
}

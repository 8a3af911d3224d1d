package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagCollector is a stderr that collects the FlagSet each command makes
// (see newFlagSet): running every command with -h through it yields the
// real flag sets, which renderCLIDoc turns into docs/cli.md.
type flagCollector interface {
	io.Writer
	collect(command string, fs *flag.FlagSet)
}

// flagSets collects flag sets by command name; what the commands print
// is discarded.
type flagSets map[string]*flag.FlagSet

func (flagSets) Write(p []byte) (int, error)                { return len(p), nil }
func (s flagSets) collect(command string, fs *flag.FlagSet) { s[command] = fs }

// collectFlagSets runs every command with -h and returns its flag set.
// A command that made none is missing from the result.
func collectFlagSets() flagSets {
	sets := flagSets{}
	for _, c := range commands() {
		c.run(context.Background(), []string{"-h"}, io.Discard, sets)
	}
	return sets
}

// renderCLIDoc renders the command line reference.
func renderCLIDoc(sets flagSets) string {
	var b strings.Builder
	b.WriteString("# minato command line\n\n")
	b.WriteString("<!-- Generated from the flag sets by `go test ./internal/cli -run TestCLIDocIsCurrent -update` (`make docs`). Do not edit by hand. -->\n\n")
	b.WriteString("Flags take one or two dashes (`-data-dir` or `--data-dir`); `minato <command> -h` prints the same.\n\n")
	b.WriteString("| Command | |\n|---|---|\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "| [`minato %s`](#minato-%s) | %s |\n", c.name, c.name, c.summary)
	}
	for _, c := range commands() {
		fmt.Fprintf(&b, "\n## minato %s\n\n%s.\n", c.name, upperFirst(c.summary))
		fs := sets[c.name]
		if fs == nil {
			continue
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			b.WriteString("\nNo flags.\n")
			continue
		}
		b.WriteString("\n| Flag | Default | |\n|---|---|---|\n")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			flagText := "`--" + f.Name
			if name != "" {
				flagText += " " + name
			}
			flagText += "`"
			def := "`" + f.DefValue + "`"
			if f.DefValue == "" || (name == "" && f.DefValue == "false") {
				def = ""
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", flagText, def, mdEscape(usage))
		})
	}
	b.WriteString("\n## Environment\n\n| Variable | Commands | |\n|---|---|---|\n")
	for _, e := range environment {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.name, e.commands, mdEscape(e.meaning))
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mdEscape keeps a text inside a Markdown table cell and visible:
// "<data-dir>" would be read as an HTML tag.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", `\<`).Replace(s)
}

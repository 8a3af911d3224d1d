package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// outputFlag is --output: table (default) or json.
type outputFlag struct{ format string }

func (o *outputFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&o.format, "output", "table", "table, or json (for scripts)")
}

func (o *outputFlag) check() error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--output %q: want table or json", o.format)
	}
	return nil
}

func (o *outputFlag) json() bool { return o.format == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// age says how long ago t was, shortly: 45s, 12m, 3h, 2d ("-": never).
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// dash is s, or "-" when it is empty (an empty table cell misaligns
// nothing, but reads as a mistake).
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lastPart is what follows the last '/' of an ARN: an ID or a name.
func lastPart(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// clip shortens s to n runes, with an ellipsis.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// writeJSONLine writes v as one line of JSON (a stream of them: NDJSON).
func writeJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

var flagErrHelp = flag.ErrHelp

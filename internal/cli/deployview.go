package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// deployState is one look at a deployment that `minato deploy` follows:
// plain values, so that rendering it is pure.
type deployState struct {
	Service        string        `json:"service"`
	DeploymentID   string        `json:"deploymentId"`
	TaskDefinition string        `json:"taskDefinition"`
	Status         string        `json:"status"` // PRIMARY, ACTIVE, INACTIVE; "" when gone
	Rollout        string        `json:"rolloutState"`
	Reason         string        `json:"rolloutStateReason,omitempty"`
	Desired        int32         `json:"desired"`
	Running        int32         `json:"running"`
	Pending        int32         `json:"pending"`
	Failed         int32         `json:"failed"`
	Elapsed        time.Duration `json:"elapsedNanos"`
	// Others are the service's other deployments (the old one draining,
	// or the one a rollback made).
	Others []otherDeployment `json:"otherDeployments,omitempty"`
	Events []deployEvent     `json:"events,omitempty"`
}

type otherDeployment struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	TaskDefinition string `json:"taskDefinition"`
	Running        int32  `json:"running"`
	Desired        int32  `json:"desired"`
	Reason         string `json:"rolloutStateReason,omitempty"`
}

type deployEvent struct {
	At      time.Time `json:"createdAt"`
	Message string    `json:"message"`
}

func deployStateOf(s ecstypes.Service, id string, start time.Time, events []deployEvent) deployState {
	st := deployState{Service: aws.ToString(s.ServiceName), DeploymentID: id, Elapsed: time.Since(start).Round(time.Second), Events: events}
	for _, d := range s.Deployments {
		if aws.ToString(d.Id) == id {
			st.TaskDefinition, st.Status = lastPart(aws.ToString(d.TaskDefinition)), aws.ToString(d.Status)
			st.Rollout, st.Reason = string(d.RolloutState), aws.ToString(d.RolloutStateReason)
			st.Desired, st.Running, st.Pending, st.Failed = d.DesiredCount, d.RunningCount, d.PendingCount, d.FailedTasks
			continue
		}
		st.Others = append(st.Others, otherDeployment{ID: aws.ToString(d.Id), Status: aws.ToString(d.Status),
			TaskDefinition: lastPart(aws.ToString(d.TaskDefinition)), Running: d.RunningCount, Desired: d.DesiredCount,
			Reason: aws.ToString(d.RolloutStateReason)})
	}
	return st
}

// deployOutcome says whether a deployment is over, and how.
type deployOutcome struct {
	done, ok bool
	message  string
}

func (s deployState) outcome() deployOutcome {
	switch {
	case s.Rollout == "COMPLETED":
		return deployOutcome{true, true, fmt.Sprintf("deployment %s COMPLETED: %d/%d tasks of %s running", s.DeploymentID, s.Running, s.Desired, s.TaskDefinition)}
	case s.Rollout == "FAILED":
		msg := fmt.Sprintf("deployment %s FAILED", s.DeploymentID)
		if s.Reason != "" {
			msg += ": " + s.Reason
		}
		for _, o := range s.Others {
			if o.Status == "PRIMARY" {
				msg += fmt.Sprintf(" (rolled back to %s)", o.TaskDefinition)
			}
		}
		return deployOutcome{true, false, msg}
	case s.Status != "PRIMARY":
		// Gone or no longer primary between two looks: a rollback made
		// the new primary (its reason says so), or another update did.
		for _, o := range s.Others {
			if o.Status == "PRIMARY" && strings.Contains(o.Reason, "rolling back") {
				return deployOutcome{true, false, fmt.Sprintf("deployment %s FAILED: %s (rolled back to %s)", s.DeploymentID, o.Reason, o.TaskDefinition)}
			}
		}
		if s.Status == "" {
			return deployOutcome{true, false, fmt.Sprintf("deployment %s is gone: another update of the service replaced it", s.DeploymentID)}
		}
		return deployOutcome{true, false, fmt.Sprintf("deployment %s is %s: another update of the service replaced it", s.DeploymentID, s.Status)}
	}
	return deployOutcome{}
}

// bar draws n of total as a bar of width cells.
func bar(n, total int32, width int) string {
	full := 0
	if total > 0 {
		full = int(int64(min(max(n, 0), total)) * int64(width) / int64(total))
	} else {
		full = width
	}
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]"
}

// renderDeployFrame is the live view of a deployment on a terminal: the
// lines redrawn in place at each look. It is pure.
func renderDeployFrame(s deployState, o deployOutcome) []string {
	lines := []string{
		fmt.Sprintf("%s %2d/%d running  %d pending  %d failed  %s  %s", bar(s.Running, s.Desired, 30), s.Running, s.Desired,
			s.Pending, s.Failed, dash(s.Rollout), fmtElapsed(s.Elapsed)),
	}
	for _, d := range s.Others {
		lines = append(lines, fmt.Sprintf("  %-8s %s  %d/%d running", strings.ToLower(d.Status), d.TaskDefinition, d.Running, d.Desired))
	}
	const shown = 6
	evs := s.Events
	if len(evs) > shown {
		evs = evs[len(evs)-shown:]
	}
	for _, e := range evs {
		lines = append(lines, "  "+e.At.UTC().Format("15:04:05")+" "+clipText(e.Message, 120))
	}
	if o.done {
		mark := "✓"
		if !o.ok {
			mark = "✗"
		}
		lines = append(lines, mark+" "+o.message)
	}
	return lines
}

// renderDeployLine is the one line a look at a deployment adds when the
// output is not a terminal (a log, CI): only when it changed. It is pure.
func renderDeployLine(s deployState) string {
	return fmt.Sprintf("%s %s running %d/%d pending %d failed %d", fmtElapsed(s.Elapsed), dash(s.Rollout), s.Running, s.Desired, s.Pending, s.Failed)
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// progress shows a deployment: redrawn in place on a terminal, appended
// lines elsewhere, a JSON object per look with --output json.
type progress struct {
	w          io.Writer
	json, tty  bool
	drawn      int    // lines of the last frame (tty)
	lastLine   string // the last state line (plain)
	lastEvents int
}

func newProgress(w io.Writer, json, tty bool) *progress { return &progress{w: w, json: json, tty: tty} }

func (p *progress) step(msg string) {
	if p.json {
		writeJSONLine(p.w, map[string]string{"step": msg})
		return
	}
	fmt.Fprintln(p.w, "✓ "+msg)
}

func (p *progress) final(msg string) {
	if p.json {
		writeJSONLine(p.w, map[string]string{"result": msg})
		return
	}
	fmt.Fprintln(p.w, "… "+msg)
}

func (p *progress) show(s deployState, now time.Time, o deployOutcome) {
	switch {
	case p.json:
		writeJSONLine(p.w, struct {
			deployState
			Done   bool   `json:"done"`
			OK     bool   `json:"ok"`
			Result string `json:"result,omitempty"`
		}{s, o.done, o.ok, o.message})
	case p.tty:
		if p.drawn > 0 {
			fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn) // up, and clear to the end
		}
		lines := renderDeployFrame(s, o)
		fmt.Fprintln(p.w, strings.Join(lines, "\n"))
		p.drawn = len(lines)
	default:
		for _, e := range s.Events[min(p.lastEvents, len(s.Events)):] {
			fmt.Fprintln(p.w, "  "+e.At.UTC().Format("15:04:05")+" "+e.Message)
		}
		p.lastEvents = len(s.Events)
		if l := renderDeployLine(s); l[strings.IndexByte(l, ' ')+1:] != p.lastLine {
			fmt.Fprintln(p.w, l)
			p.lastLine = l[strings.IndexByte(l, ' ')+1:]
		}
		if o.done {
			mark := "✓"
			if !o.ok {
				mark = "✗"
			}
			fmt.Fprintln(p.w, mark+" "+o.message)
		}
	}
}

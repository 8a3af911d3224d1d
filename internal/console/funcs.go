package console

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/model/shape"
)

func itoa(n int) string { return strconv.Itoa(n) }

func fmtTime(ts shape.Timestamp) string {
	if ts.IsZero() {
		return ""
	}
	return ts.Time().UTC().Format("2006-01-02 15:04:05Z")
}

var funcs = template.FuncMap{
	"last": lastSegment,
	"time": fmtTime,
	"goTime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"deref": func(p *int32) string {
		if p == nil {
			return ""
		}
		return itoa(int(*p))
	},
	"ports": func(bs []ecstypes.NetworkBinding) string {
		var out []string
		for _, b := range bs {
			s := ""
			if b.BindIP != "" {
				s = b.BindIP + ":"
			}
			hp, cp := "", ""
			if b.HostPort != nil {
				hp = itoa(int(*b.HostPort))
			}
			if b.ContainerPort != nil {
				cp = itoa(int(*b.ContainerPort))
			}
			s += hp + "→" + cp
			if b.Protocol != "" {
				s += "/" + string(b.Protocol)
			}
			out = append(out, s)
		}
		return strings.Join(out, ", ")
	},
	"resources": Resources,
	"stateClass": func(s string) string {
		switch strings.ToUpper(s) {
		case "FAILED", "STOPPED", "UNHEALTHY", "ROLLBACK_FAILED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED", "INACTIVE", "DRAINING", "UNUSED", "TIMEOUT":
			return "bad"
		case "RUNNING", "HEALTHY", "COMPLETED", "SUCCESSFUL", "ACTIVE", "PRIMARY", "DONE":
			return "good"
		}
		return "busy"
	},
	"actions": func(as []elbv2types.Action) string {
		var out []string
		for _, a := range as {
			switch {
			case a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0:
				var tgs []string
				for _, t := range a.ForwardConfig.TargetGroups {
					w := ""
					if t.Weight != nil {
						w = " (" + itoa(int(*t.Weight)) + ")"
					}
					tgs = append(tgs, targetGroupName(t.TargetGroupArn)+w)
				}
				out = append(out, "forward to "+strings.Join(tgs, ", "))
			case a.TargetGroupArn != "":
				out = append(out, "forward to "+targetGroupName(a.TargetGroupArn))
			case a.FixedResponseConfig != nil:
				out = append(out, "fixed response "+a.FixedResponseConfig.StatusCode)
			case a.RedirectConfig != nil:
				out = append(out, "redirect "+string(a.RedirectConfig.StatusCode))
			default:
				out = append(out, string(a.Type))
			}
		}
		return strings.Join(out, "; ")
	},
	"conditions": func(cs []elbv2types.RuleCondition) string {
		var out []string
		for _, c := range cs {
			vals := c.Values
			if c.PathPatternConfig != nil {
				vals = append(vals, c.PathPatternConfig.Values...)
			}
			if c.HostHeaderConfig != nil {
				vals = append(vals, c.HostHeaderConfig.Values...)
			}
			out = append(out, c.Field+" = "+strings.Join(vals, ", "))
		}
		if len(out) == 0 {
			return "(default)"
		}
		return strings.Join(out, "; ")
	},
	"tgName": targetGroupName,
	"pct":    func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + "%" },
}

package lifecyclepolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// img is an image pushed daysAgo days before now.
func img(digest string, daysAgo float64, tags ...string) Image {
	return Image{Digest: digest, Tags: tags, PushedAt: now.Add(-time.Duration(daysAgo * 24 * float64(time.Hour)))}
}

func mustParse(t *testing.T, text string) Policy {
	t.Helper()
	p, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return p
}

func expired(p Policy, images []Image) []string {
	var out []string
	for _, e := range p.Evaluate(images, now) {
		out = append(out, fmt.Sprintf("%s@%d", e.Image.Digest, e.RulePriority))
	}
	return out
}

// The seed's policy: keep the ten newest v-tagged images.
const seedPolicy = `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep last 10 images",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["v"],
        "countType": "imageCountMoreThan",
        "countNumber": 10
      },
      "action": {
        "type": "expire"
      }
    }
  ]
}`

func TestSeedPolicyKeepsTenNewest(t *testing.T) {
	p := mustParse(t, seedPolicy)
	var images []Image
	for i := 1; i <= 13; i++ {
		images = append(images, img(fmt.Sprintf("d%02d", i), float64(14-i), fmt.Sprintf("v%d", i)))
	}
	// Unrelated images are never touched by a tagged rule.
	images = append(images, img("latest", 30, "latest"), img("untagged", 30))
	got := expired(p, images)
	want := []string{"d01@1", "d02@1", "d03@1"} // the three oldest v images, oldest first
	if !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	// The order the images are listed in does not matter.
	slices.Reverse(images)
	if got := expired(p, images); !slices.Equal(got, want) {
		t.Fatalf("reversed listing: expired %v, want %v", got, want)
	}
}

func TestRuleForms(t *testing.T) {
	images := []Image{
		img("a", 10, "alpha-1", "beta-1"),
		img("b", 9, "alpha-2"),
		img("c", 8, "beta-3"),
		img("u1", 20),
		img("u2", 2),
		img("u3", 1),
		img("prod", 40, "prod-2025", "release"),
		img("rc", 3, "v1.0-rc1"),
		img("ga", 4, "v1.0"),
	}
	rule := func(prio int, selection string) string {
		return fmt.Sprintf(`{"rulePriority":%d,"selection":%s,"action":{"type":"expire"}}`, prio, selection)
	}
	policy := func(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }
	for _, tc := range []struct {
		name   string
		policy string
		want   []string
	}{
		{"untagged older than 5 days",
			policy(rule(1, `{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":5}`)),
			[]string{"u1@1"}},
		{"untagged keep 1",
			policy(rule(1, `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}`)),
			[]string{"u1@1", "u2@1"}},
		{"any keep 3",
			policy(rule(1, `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3}`)),
			[]string{"prod@1", "u1@1", "a@1", "b@1", "c@1", "ga@1"}},
		{"pattern rc older than 2 days",
			policy(rule(1, `{"tagStatus":"tagged","tagPatternList":["v*-rc*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":2}`)),
			[]string{"rc@1"}},
		// Docs example: several prefixes select only images that carry all.
		{"all prefixes must match",
			policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}`)),
			[]string{"a@1"}},
		// Docs example "filtering on multiple rules": each rule expires what
		// it identifies unless a rule before it claimed the image.
		{"two prefix rules by age",
			policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}`),
				rule(2, `{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}`)),
			[]string{"a@1", "b@1", "c@2"}},
		{"two prefix rules by count",
			policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1}`),
				rule(2, `{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1}`)),
			[]string{"a@1"}},
		// A tagged rule protects what it matches from a later any rule,
		// even the images it keeps.
		{"tagged rule protects its images from any",
			policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":5}`),
				rule(2, `{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":7}`)),
			[]string{"u1@2", "a@2", "b@2", "c@2"}},
		// A later rule still counts images an earlier rule claimed: any keep
		// 3 identifies everything but the three newest, ga among them, and
		// cannot expire ga, which the v1.0 rule matched.
		{"later rule counts claimed images",
			policy(rule(1, `{"tagStatus":"tagged","tagPrefixList":["v1.0"],"countType":"imageCountMoreThan","countNumber":5}`),
				rule(2, `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3}`)),
			[]string{"prod@2", "u1@2", "a@2", "b@2", "c@2"}},
		{"priority order is by number, not position",
			policy(rule(9, `{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":7}`),
				rule(3, `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":2}`)),
			[]string{"prod@9", "u1@3", "a@9", "b@9", "c@9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.policy)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := expired(p, images); !slices.Equal(got, tc.want) {
				t.Fatalf("expired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, tag string
		want         bool
	}{
		{"latest", "latest", true},
		{"latest", "latest2", false},
		{"*", "", true},
		{"*", "anything", true},
		{"prod*", "prod", true},
		{"prod*", "production", true},
		{"prod*", "xprod", false},
		{"*prod", "preprod", true},
		{"*prod", "prod-x", false},
		{"v*-rc*", "v1.0-rc1", true},
		{"v*-rc*", "v1.0", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix may not overlap
		{"*-*-*", "a-b-c", true},
		{"*-*-*", "a-b", false},
	} {
		if got := Match(tc.pattern, tc.tag); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.tag, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	sel := func(s string) string {
		return `{"rules":[{"rulePriority":1,"selection":` + s + `,"action":{"type":"expire"}}]}`
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"not JSON", `rules: []`, "not a valid lifecycle policy"},
		{"no rules", `{}`, "missing required properties ([\"rules\"])"},
		{"empty rules", `{"rules":[]}`, "at least 1"},
		{"unknown member", `{"rules":[],"extra":1}`, "unknown field"},
		{"no priority", `{"rules":[{"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "rulePriority"},
		{"priority zero", `{"rules":[{"rulePriority":0,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "rulePriority must be"},
		{"bad tag status", sel(`{"tagStatus":"some","countType":"imageCountMoreThan","countNumber":1}`), "tagStatus"},
		{"tagged without list", sel(`{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}`), "is required when tagStatus is tagged"},
		{"both lists", sel(`{"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b*"],"countType":"imageCountMoreThan","countNumber":1}`), "cannot both"},
		{"list on untagged", sel(`{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1}`), "only when tagStatus is tagged"},
		{"too many wildcards", sel(`{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*"],"countType":"imageCountMoreThan","countNumber":1}`), "more than 4 wildcards"},
		{"unit on count", sel(`{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}`), "countUnit cannot"},
		{"no unit on age", sel(`{"tagStatus":"any","countType":"sinceImagePushed","countNumber":1}`), "countUnit is required"},
		{"hours", sel(`{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"hours","countNumber":1}`), "days"},
		{"count type", sel(`{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":1}`), "countType"},
		{"zero count", sel(`{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0}`), "countNumber must be"},
		{"fractional count", sel(`{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1.5}`), "countNumber must be"},
		{"no count", sel(`{"tagStatus":"any","countType":"imageCountMoreThan"}`), "countNumber"},
		{"transition", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition"}}]}`, "expire"},
		{"duplicate priority", `{"rules":[` +
			`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "unique"},
		{"two untagged", `{"rules":[` +
			`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`, "only one rule may select untagged"},
		{"any not last", `{"rules":[` +
			`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`, "highest rulePriority"},
		{"same prefixes", `{"rules":[` +
			`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v","w"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["w","v"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`, "unique tag prefixes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "Lifecycle policy validation failure: ") {
				t.Fatalf("Parse error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEvaluateEmpty(t *testing.T) {
	p := mustParse(t, seedPolicy)
	if got := p.Evaluate(nil, now); len(got) != 0 {
		t.Fatalf("no images: %v", got)
	}
	few := []Image{img("x", 1, "v1")}
	if got := p.Evaluate(few, now); len(got) != 0 {
		t.Fatalf("fewer than countNumber: %v", got)
	}
}

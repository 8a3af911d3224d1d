// Package lifecyclepolicy parses ECR lifecycle policies and decides which
// images a policy expires. It is pure: Parse reads the policy text and
// Evaluate takes a list of images and a time, so every rule of ECR's
// evaluation can be tested with plain values. Running the decision (deleting
// the images) is internal/registry's job.
//
// The rules are ECR's, as its user guide states them ("Lifecycle policy
// evaluation rules"):
//
//   - Rules are applied in rulePriority order, lowest number first.
//   - An image is expired by one rule or none.
//   - An image that matches the tagging requirements of a rule is never
//     expired by a rule of lower priority, even when the rule that matched
//     it did not expire it.
//   - A rule still counts the images that rules of higher priority matched
//     or expired ("identifies them as if they had not been expired"); it
//     only cannot expire them.
//   - Expiry goes by push time, oldest first: imageCountMoreThan keeps the
//     countNumber newest images it selects, sinceImagePushed expires those
//     pushed more than countNumber days ago.
//   - tagPrefixList and tagPatternList select an image only when every entry
//     matches one of its tags; a pattern's * matches any run of characters.
//   - tagStatus any selects every image and must be the rule evaluated last;
//     only one rule may select untagged images.
package lifecyclepolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tag statuses a rule selects by.
const (
	TagStatusTagged   = "tagged"
	TagStatusUntagged = "untagged"
	TagStatusAny      = "any"
)

// Count types.
const (
	CountImagesMoreThan   = "imageCountMoreThan"
	CountSinceImagePushed = "sinceImagePushed"
)

// ActionExpire is the one action minato carries out.
const ActionExpire = "expire"

// maxWildcards is how many * one tagPatternList entry may hold, as in ECR.
const maxWildcards = 4

// Policy is a parsed lifecycle policy. Rules are in priority order.
type Policy struct {
	Rules []Rule
}

// Rule is one rule of a policy.
type Rule struct {
	Priority    int
	Description string
	TagStatus   string
	TagPrefixes []string
	TagPatterns []string
	CountType   string
	CountUnit   string // "days" for sinceImagePushed
	CountNumber int
	Action      string
}

// Error is a policy that breaks ECR's rules. Reason says which, in words
// close to ECR's validator.
type Error struct{ Reason string }

func (e *Error) Error() string { return "Lifecycle policy validation failure: " + e.Reason }

func invalid(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// The policy's JSON document. Pointers tell a member that is absent from
// one given as zero.
type document struct {
	Rules *[]ruleDoc `json:"rules"`
}

type ruleDoc struct {
	RulePriority *json.Number `json:"rulePriority"`
	Description  string       `json:"description"`
	Selection    *struct {
		TagStatus      *string      `json:"tagStatus"`
		TagPrefixList  []string     `json:"tagPrefixList"`
		TagPatternList []string     `json:"tagPatternList"`
		CountType      *string      `json:"countType"`
		CountUnit      *string      `json:"countUnit"`
		CountNumber    *json.Number `json:"countNumber"`
	} `json:"selection"`
	Action *struct {
		Type *string `json:"type"`
	} `json:"action"`
}

// Parse reads and validates a policy. Its errors are *Error.
func Parse(text string) (Policy, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return Policy{}, invalid("the policy is not a valid lifecycle policy document: %v", err)
	}
	if dec.More() {
		return Policy{}, invalid("the policy holds more than one JSON document")
	}
	if doc.Rules == nil {
		return Policy{}, invalid("object has missing required properties ([\"rules\"])")
	}
	if len(*doc.Rules) == 0 {
		return Policy{}, invalid("array is too short: must have at least 1 elements but instance has 0 elements")
	}
	var p Policy
	for i, rd := range *doc.Rules {
		r, err := parseRule(rd)
		if err != nil {
			return Policy{}, invalid("rules[%d]: %s", i, err.(*Error).Reason)
		}
		p.Rules = append(p.Rules, r)
	}
	slices.SortStableFunc(p.Rules, func(a, b Rule) int { return a.Priority - b.Priority })
	return p, checkRules(p.Rules)
}

func parseRule(rd ruleDoc) (Rule, error) {
	var r Rule
	if rd.RulePriority == nil {
		return r, invalid("object has missing required properties ([\"rulePriority\"])")
	}
	n, err := positive(*rd.RulePriority, "rulePriority")
	if err != nil {
		return r, err
	}
	r.Priority, r.Description = n, rd.Description
	s := rd.Selection
	if s == nil {
		return r, invalid("object has missing required properties ([\"selection\"])")
	}
	if s.TagStatus == nil {
		return r, invalid("selection: object has missing required properties ([\"tagStatus\"])")
	}
	r.TagStatus = *s.TagStatus
	switch r.TagStatus {
	case TagStatusTagged:
		if len(s.TagPrefixList) > 0 && len(s.TagPatternList) > 0 {
			return r, invalid("tagPrefixList and tagPatternList cannot both be specified in one rule")
		}
		if len(s.TagPrefixList) == 0 && len(s.TagPatternList) == 0 {
			return r, invalid("tagPrefixList or tagPatternList is required when tagStatus is tagged")
		}
	case TagStatusUntagged, TagStatusAny:
		if s.TagPrefixList != nil || s.TagPatternList != nil {
			return r, invalid("tagPrefixList and tagPatternList can be specified only when tagStatus is tagged")
		}
	default:
		return r, invalid("string %q does not match pattern \"^(tagged|untagged|any)$\" at selection.tagStatus", r.TagStatus)
	}
	for _, pre := range s.TagPrefixList {
		if pre == "" {
			return r, invalid("tagPrefixList entries must not be empty")
		}
	}
	for _, pat := range s.TagPatternList {
		if pat == "" {
			return r, invalid("tagPatternList entries must not be empty")
		}
		if strings.Count(pat, "*") > maxWildcards {
			return r, invalid("tagPatternList entry %q has more than %d wildcards (*)", pat, maxWildcards)
		}
	}
	r.TagPrefixes, r.TagPatterns = s.TagPrefixList, s.TagPatternList
	if s.CountType == nil {
		return r, invalid("selection: object has missing required properties ([\"countType\"])")
	}
	r.CountType = *s.CountType
	switch r.CountType {
	case CountImagesMoreThan:
		if s.CountUnit != nil {
			return r, invalid("countUnit cannot be specified when countType is imageCountMoreThan")
		}
	case CountSinceImagePushed:
		if s.CountUnit == nil {
			return r, invalid("countUnit is required when countType is sinceImagePushed")
		}
		if *s.CountUnit != "days" {
			return r, invalid("string %q does not match pattern \"^(days)$\" at selection.countUnit", *s.CountUnit)
		}
		r.CountUnit = *s.CountUnit
	default:
		return r, invalid("string %q does not match pattern \"^(imageCountMoreThan|sinceImagePushed)$\" at selection.countType (minato carries out expire rules only)", r.CountType)
	}
	if s.CountNumber == nil {
		return r, invalid("selection: object has missing required properties ([\"countNumber\"])")
	}
	if r.CountNumber, err = positive(*s.CountNumber, "countNumber"); err != nil {
		return r, err
	}
	if rd.Action == nil || rd.Action.Type == nil {
		return r, invalid("object has missing required properties ([\"action\"])")
	}
	if r.Action = *rd.Action.Type; r.Action != ActionExpire {
		return r, invalid("string %q does not match pattern \"^(expire)$\" at action.type (minato carries out expire rules only)", r.Action)
	}
	return r, nil
}

// positive parses a JSON number that must be a whole number of at least 1.
func positive(n json.Number, name string) (int, error) {
	v, err := n.Int64()
	if err != nil || v < 1 || v > 1<<31-1 {
		return 0, invalid("%s must be an integer of at least 1, got %s", name, n)
	}
	return int(v), nil
}

// checkRules checks what concerns the rules together. rules are in
// priority order.
func checkRules(rules []Rule) error {
	untagged := 0
	for i, r := range rules {
		if i > 0 && rules[i-1].Priority == r.Priority {
			return invalid("rulePriority %d is used by more than one rule; rule priorities must be unique", r.Priority)
		}
		if r.TagStatus == TagStatusUntagged {
			if untagged++; untagged > 1 {
				return invalid("only one rule may select untagged images")
			}
		}
		if r.TagStatus == TagStatusAny && i != len(rules)-1 {
			return invalid("a rule with tagStatus any must have the highest rulePriority")
		}
		for _, o := range rules[:i] {
			if o.TagStatus == TagStatusTagged && r.TagStatus == TagStatusTagged &&
				sameSet(o.TagPrefixes, r.TagPrefixes) && sameSet(o.TagPatterns, r.TagPatterns) {
				return invalid("rules %d and %d select the same tags; the set of rules must contain unique tag prefixes and patterns", o.Priority, r.Priority)
			}
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// Image is what evaluation knows of an image.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
}

// Expiry is an image a policy expires, and the rule that does.
type Expiry struct {
	Image        Image
	RulePriority int
}

// Evaluate returns the images p expires at now, oldest first.
func (p Policy) Evaluate(images []Image, now time.Time) []Expiry {
	// Newest first: counting keeps the head of the list. Ties (images
	// pushed in the same instant) go by digest, so the outcome does not
	// depend on the order the images were listed in.
	byAge := slices.Clone(images)
	slices.SortStableFunc(byAge, func(a, b Image) int {
		if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	claimed := map[string]bool{} // matched by the tagging requirements of a rule already applied
	expired := map[string]int{}  // digest -> rule priority
	for _, r := range p.Rules {
		var selected []Image
		for _, img := range byAge {
			if r.selects(img) {
				selected = append(selected, img)
			}
		}
		for i, img := range selected {
			if r.identifies(i, img, now) && !claimed[img.Digest] {
				if _, done := expired[img.Digest]; !done {
					expired[img.Digest] = r.Priority
				}
			}
		}
		for _, img := range selected {
			claimed[img.Digest] = true
		}
	}
	var out []Expiry
	for i := len(byAge) - 1; i >= 0; i-- {
		if prio, ok := expired[byAge[i].Digest]; ok {
			out = append(out, Expiry{Image: byAge[i], RulePriority: prio})
		}
	}
	return out
}

// selects reports whether img meets r's tagging requirements.
func (r Rule) selects(img Image) bool {
	switch r.TagStatus {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(img.Tags) == 0
	}
	if len(img.Tags) == 0 {
		return false
	}
	for _, pre := range r.TagPrefixes {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return strings.HasPrefix(t, pre) }) {
			return false
		}
	}
	for _, pat := range r.TagPatterns {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return Match(pat, t) }) {
			return false
		}
	}
	return true
}

// identifies reports whether r would expire img, the i-th newest image it
// selects.
func (r Rule) identifies(i int, img Image, now time.Time) bool {
	if r.CountType == CountImagesMoreThan {
		return i >= r.CountNumber
	}
	return img.PushedAt.Before(now.Add(-time.Duration(r.CountNumber) * 24 * time.Hour))
}

// Match reports whether tag matches pattern, whose * matches any run of
// characters (none included) and every other character itself.
func Match(pattern, tag string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == tag
	}
	rest, ok := strings.CutPrefix(tag, parts[0])
	if !ok {
		return false
	}
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, mid)
		if i < 0 {
			return false
		}
		rest = rest[i+len(mid):]
	}
	return len(rest) >= len(last) && strings.HasSuffix(rest, last)
}

// Canonical returns text re-indented as ECR returns a policy it stored
// (compact JSON), or text itself when it is not JSON.
func Canonical(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}

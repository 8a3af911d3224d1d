package shape

import (
	"strconv"
	"strings"
)

// The model's value constraints (botocore's min, max and pattern traits),
// checked by the generated Validate methods. Lengths are counted as AWS
// counts them: strings in characters (Unicode code points), lists and maps
// in elements, blobs in bytes; min and max on numbers bound the value.
//
// Every check reads no more of a value than its limit needs, and a string's
// length is checked before its pattern, so an oversized input costs no more
// than the limit, never a regular expression over megabytes.

// maxQuoted is how many characters of an offending value an error message
// quotes; the rest is cut off with "...".
const maxQuoted = 100

// String holds the constraints of a string shape.
type String struct {
	Min int // minimum length in characters; 0 for none
	Max int // maximum length in characters; -1 for none
	// Pattern is nil when the model has none or Go cannot compile it.
	Pattern *Pattern
	// Sensitive values are never quoted in messages.
	Sensitive bool
}

// Check reports the first constraint v breaks, length before pattern, as a
// *ValidationError with an empty path (shape.Prefix adds it).
func (r *String) Check(v string) error {
	if r.Max >= 0 && len(v) > r.Max && countUpTo(v, r.Max) > r.Max {
		return r.fail(v, "must have length less than or equal to "+strconv.Itoa(r.Max))
	}
	if r.Min > 0 && (len(v) < r.Min || countUpTo(v, r.Min) < r.Min) {
		return r.fail(v, "must have length greater than or equal to "+strconv.Itoa(r.Min))
	}
	if r.Pattern != nil && !r.Pattern.MatchString(v) {
		return r.fail(v, "must satisfy regular expression pattern: "+r.Pattern.Model)
	}
	return nil
}

// CheckMember is Check for a structure member, where "" means absent: the
// generated types cannot tell an empty string from a missing one, and a
// missing member is Validate's required check to report, not a length.
func (r *String) CheckMember(v string) error {
	if v == "" {
		return nil
	}
	return r.Check(v)
}

func (r *String) fail(v, reason string) *ValidationError {
	e := &ValidationError{Reason: reason, Constraint: "Member " + reason}
	if !r.Sensitive {
		e.Value = "'" + truncate(v) + "'"
	}
	return e
}

// countUpTo counts the characters of v, stopping once it passes limit.
func countUpTo(v string, limit int) int {
	n := 0
	for range v {
		n++
		if n > limit {
			break
		}
	}
	return n
}

// truncate cuts v to maxQuoted characters, marking the cut with "...".
func truncate(v string) string {
	if len(v) <= maxQuoted {
		return v
	}
	n := 0
	for i := range v {
		if n == maxQuoted {
			return v[:i] + "..."
		}
		n++
	}
	return v
}

// TooFew reports a list or map with fewer than min elements, or a blob
// with fewer than min bytes. The value is not quoted.
func TooFew(path string, min int) *ValidationError {
	reason := "must have length greater than or equal to " + strconv.Itoa(min)
	return &ValidationError{Path: path, Reason: reason, Constraint: "Member " + reason}
}

// TooMany reports a list or map with more than max elements, or a blob
// with more than max bytes. The value is not quoted.
func TooMany(path string, max int) *ValidationError {
	reason := "must have length less than or equal to " + strconv.Itoa(max)
	return &ValidationError{Path: path, Reason: reason, Constraint: "Member " + reason}
}

// Number is the Go type of a numeric shape.
type Number interface {
	~int32 | ~int64 | ~float32 | ~float64
}

// TooSmall reports a number below the model's min.
func TooSmall[T Number](path string, v, min T) *ValidationError {
	return outOfRange(path, formatNumber(v), "greater than or equal to "+formatNumber(min))
}

// TooLarge reports a number above the model's max.
func TooLarge[T Number](path string, v, max T) *ValidationError {
	return outOfRange(path, formatNumber(v), "less than or equal to "+formatNumber(max))
}

func outOfRange(path, v, bound string) *ValidationError {
	reason := "must have value " + bound
	return &ValidationError{Path: path, Reason: reason, Value: "'" + v + "'", Constraint: "Member " + reason}
}

func formatNumber[T Number](v T) string {
	switch x := any(v).(type) {
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strconv.FormatInt(int64(v), 10)
}

// Message renders e as AWS's services word a broken model constraint:
//
//	1 validation error detected: Value 'x' at 'logGroupName' failed to
//	satisfy constraint: Member must have length less than or equal to 512
//
// The path is spelled as AWS spells it: members with a lower-case first
// letter, list elements as ".N.member" counted from 1. An error made by hand
// (no Constraint) renders as Error does.
func (e *ValidationError) Message() string {
	if e.Constraint == "" {
		return e.Error()
	}
	var b strings.Builder
	b.WriteString("1 validation error detected: Value ")
	if e.Value != "" {
		b.WriteString(e.Value)
		b.WriteByte(' ')
	}
	b.WriteString("at '")
	b.WriteString(awsPath(e.Path))
	b.WriteString("' failed to satisfy constraint: ")
	b.WriteString(e.Constraint)
	return b.String()
}

// awsPath turns "containerDefinitions[0].name" into
// "containerDefinitions.1.member.name". Map keys stay as they are:
// "tags[env]" becomes "tags.env".
func awsPath(p string) string {
	var b strings.Builder
	start := true // at the start of a member name
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				b.WriteString(p[i:])
				return b.String()
			}
			in := p[i+1 : i+end]
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if n, err := strconv.Atoi(in); err == nil && n >= 0 {
				b.WriteString(strconv.Itoa(n + 1))
				b.WriteString(".member")
			} else {
				b.WriteString(in)
			}
			i += end
		case c == '.':
			b.WriteByte('.')
			start = true
		case start && 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
			start = false
		default:
			b.WriteByte(c)
			start = false
		}
	}
	return b.String()
}

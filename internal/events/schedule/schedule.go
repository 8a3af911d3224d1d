// Package schedule parses EventBridge's ScheduleExpression — rate(value
// unit) and cron(minutes hours day-of-month month day-of-week year) — and
// says when a schedule fires next. It is pure: times in, times out, UTC.
//
// rate(N unit): every N minutes, hours or days (the unit singular when N
// is 1, plural otherwise), counted from the rule's creation.
//
// cron(...): six fields, all in UTC.
//
//	minutes      0-59          , - * /
//	hours        0-23          , - * /
//	day-of-month 1-31          , - * ? / L W
//	month        1-12, JAN-DEC , - * /
//	day-of-week  1-7, SUN-SAT  , - * ? L #   (1 is Sunday)
//	year         1970-2199     , - * /
//
// One of day-of-month and day-of-week must be "?".
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is the error of an expression that is not valid; the API
// answers ValidationException "Parameter ScheduleExpression is not valid.".
var ErrInvalid = errors.New("schedule expression is not valid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w (%s)", ErrInvalid, fmt.Sprintf(format, args...))
}

// Schedule says when a rule fires.
type Schedule interface {
	// Next is the first firing time strictly after t. For a rate, from
	// is when the schedule started counting (the rule's creation or its
	// last enabling). ok is false when it never fires again.
	Next(from, t time.Time) (next time.Time, ok bool)
}

// Parse parses a ScheduleExpression.
func Parse(expr string) (Schedule, error) {
	e := strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		return parseRate(e[len("rate(") : len(e)-1])
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		return parseCron(e[len("cron(") : len(e)-1])
	}
	return nil, invalid("not rate(...) or cron(...)")
}

// Rate fires every Every.
type Rate struct{ Every time.Duration }

func parseRate(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return nil, invalid("rate takes a value and a unit")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 || f[0][0] == '+' {
		return nil, invalid("rate value must be a positive integer")
	}
	unit := f[1]
	var d time.Duration
	switch unit {
	case "minute", "minutes":
		d = time.Minute
	case "hour", "hours":
		d = time.Hour
	case "day", "days":
		d = 24 * time.Hour
	default:
		return nil, invalid("rate unit must be minute(s), hour(s) or day(s)")
	}
	if (n == 1) != !strings.HasSuffix(unit, "s") {
		return nil, invalid("rate unit must be singular for 1 and plural otherwise")
	}
	return Rate{Every: time.Duration(n) * d}, nil
}

// Next is the first from + k*Every (k >= 1) after t.
func (r Rate) Next(from, t time.Time) (time.Time, bool) {
	if t.Before(from) {
		return from.Add(r.Every), true
	}
	k := t.Sub(from)/r.Every + 1
	return from.Add(k * r.Every), true
}

// Cron is a parsed cron expression.
type Cron struct {
	minutes, hours, months uint64 // bit i: value i allowed
	years                  map[int]bool
	anyYear                bool
	dom                    domSpec
	dow                    dowSpec
}

type domSpec struct {
	any     bool   // "?" (the other field decides) or "*"
	days    uint64 // bit d
	last    bool   // L
	weekday int    // nW: nearest weekday to n; 0 none
}

type dowSpec struct {
	any      bool
	days     uint8 // bit 1..7 (1 Sunday)
	lastDay  int   // nL: last n-weekday of the month
	nth, nwd int   // d#n: nth weekday d
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return nil, invalid("cron takes six fields")
	}
	var c Cron
	var err error
	if c.minutes, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, err
	}
	if c.hours, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, err
	}
	if c.months, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, err
	}
	if f[5] == "*" {
		c.anyYear = true
	} else {
		c.years = map[int]bool{}
		for _, part := range strings.Split(f[5], ",") {
			lo, hi, step, err := parseRange(part, 1970, 2199, nil)
			if err != nil {
				return nil, err
			}
			for y := lo; y <= hi; y += step {
				c.years[y] = true
			}
		}
	}
	domQ, dowQ := f[2] == "?", f[4] == "?"
	if domQ == dowQ {
		return nil, invalid("one of day-of-month and day-of-week must be ?")
	}
	if domQ {
		c.dom.any = true
		if c.dow, err = parseDOW(f[4]); err != nil {
			return nil, err
		}
	} else {
		c.dow.any = true
		if c.dom, err = parseDOM(f[2]); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func parseDOM(s string) (domSpec, error) {
	switch {
	case s == "*":
		return domSpec{any: true}, nil
	case s == "L":
		return domSpec{last: true}, nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return domSpec{}, invalid("bad W day-of-month %q", s)
		}
		return domSpec{weekday: n}, nil
	}
	bits, err := parseField(s, 1, 31, nil)
	return domSpec{days: bits}, err
}

func parseDOW(s string) (dowSpec, error) {
	switch {
	case s == "*":
		return dowSpec{any: true}, nil
	case strings.Contains(s, "#"):
		d, n, _ := strings.Cut(s, "#")
		wd, err := dayValue(d)
		k, err2 := strconv.Atoi(n)
		if err != nil || err2 != nil || k < 1 || k > 5 {
			return dowSpec{}, invalid("bad # day-of-week %q", s)
		}
		return dowSpec{nth: k, nwd: wd}, nil
	case s == "L":
		return dowSpec{days: 1 << 7}, nil // L alone: Saturday, the last day of the week
	case strings.HasSuffix(s, "L"):
		wd, err := dayValue(strings.TrimSuffix(s, "L"))
		if err != nil {
			return dowSpec{}, err
		}
		return dowSpec{lastDay: wd}, nil
	}
	bits, err := parseField(s, 1, 7, dayNames)
	return dowSpec{days: uint8(bits)}, err
}

func dayValue(s string) (int, error) {
	if v, ok := dayNames[strings.ToUpper(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 7 {
		return 0, invalid("bad day of week %q", s)
	}
	return n, nil
}

func parseField(s string, min, max int, names map[string]int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, step, err := parseRange(part, min, max, names)
		if err != nil {
			return 0, err
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

// parseRange parses *, v, a-b, */n, a/n, a-b/n.
func parseRange(part string, min, max int, names map[string]int) (lo, hi, step int, err error) {
	step = 1
	base, stepS, hasStep := strings.Cut(part, "/")
	if hasStep {
		if step, err = strconv.Atoi(stepS); err != nil || step < 1 || step > max {
			return 0, 0, 0, invalid("bad step %q", part)
		}
	}
	value := func(s string) (int, error) {
		if v, ok := names[strings.ToUpper(s)]; ok && names != nil {
			return v, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min || n > max {
			return 0, invalid("value %q out of range %d-%d", s, min, max)
		}
		return n, nil
	}
	switch {
	case base == "*":
		lo, hi = min, max
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		if lo, err = value(a); err != nil {
			return
		}
		if hi, err = value(b); err != nil {
			return
		}
		if lo > hi {
			return 0, 0, 0, invalid("range %q runs backwards", base)
		}
	default:
		if lo, err = value(base); err != nil {
			return
		}
		hi = lo
		if hasStep {
			hi = max
		}
	}
	return lo, hi, step, nil
}

// Next is the first minute after t the expression names (from is not
// used). It looks up to the schedule's last year.
func (c Cron) Next(_ time.Time, t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for ; day.Year() <= 2199; day = day.AddDate(0, 0, 1) {
		if !c.anyYear && !c.years[day.Year()] {
			// jump to the next year
			day = time.Date(day.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
			continue
		}
		if c.months&(1<<uint(day.Month())) == 0 {
			day = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
			continue
		}
		if !c.dayMatches(day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if c.hours&(1<<uint(h)) == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if c.minutes&(1<<uint(m)) == 0 {
					continue
				}
				at := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if !at.Before(t) {
					return at, true
				}
			}
		}
	}
	return time.Time{}, false
}

func (c Cron) dayMatches(day time.Time) bool {
	last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	d := day.Day()
	wd := int(day.Weekday()) + 1 // 1 Sunday
	if !c.dom.any {
		switch {
		case c.dom.last:
			return d == last
		case c.dom.weekday > 0:
			return d == nearestWeekday(day.Year(), day.Month(), c.dom.weekday, last)
		}
		return c.dom.days&(1<<uint(d)) != 0
	}
	if c.dow.any {
		return true
	}
	switch {
	case c.dow.nth > 0:
		return wd == c.dow.nwd && (d-1)/7+1 == c.dow.nth
	case c.dow.lastDay > 0:
		return wd == c.dow.lastDay && d+7 > last
	}
	return c.dow.days&(1<<uint(wd)) != 0
}

// nearestWeekday is the weekday (Mon-Fri) nearest to day n of the month,
// not leaving the month.
func nearestWeekday(y int, m time.Month, n, last int) int {
	if n > last {
		n = last
	}
	t := time.Date(y, m, n, 0, 0, 0, 0, time.UTC)
	switch t.Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

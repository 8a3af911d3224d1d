package scaling

import (
	"errors"
	"fmt"
	"strings"
	"time"

	_ "time/tzdata" // time zones of scheduled actions on hosts without tzdata

	"github.com/minato-project/minato/internal/events/schedule"
)

// Scheduled actions: at(yyyy-mm-ddThh:mm:ss) once, rate(value unit) and
// cron(six fields) as EventBridge parses them (package
// events/schedule), at and cron in the action's time zone (UTC by
// default), each run within [StartTime, EndTime] when those are set.

// Schedule is a parsed scheduled action's schedule.
type Schedule struct {
	at   time.Time         // at(...): the one run, in loc
	each schedule.Schedule // rate(...) or cron(...)
	cron bool
	loc  *time.Location
}

// ErrSchedule is the class of ParseSchedule's errors.
var ErrSchedule = errors.New("invalid schedule")

// ParseSchedule parses a scheduled action's Schedule in the time zone tz
// (an IANA name; "" is UTC).
func ParseSchedule(expr, tz string) (Schedule, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return Schedule{}, fmt.Errorf("%w: unknown time zone %s", ErrSchedule, tz)
		}
		loc = l
	}
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "at(") && strings.HasSuffix(e, ")") {
		at, err := time.ParseInLocation("2006-01-02T15:04:05", e[3:len(e)-1], loc)
		if err != nil {
			return Schedule{}, fmt.Errorf("%w: %s", ErrSchedule, expr)
		}
		return Schedule{at: at, loc: loc}, nil
	}
	s, err := schedule.Parse(e)
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: %s", ErrSchedule, expr)
	}
	return Schedule{each: s, cron: strings.HasPrefix(e, "cron("), loc: loc}, nil
}

// next is the first run strictly after t; from is when a rate started
// counting.
func (s Schedule) next(from, t time.Time) (time.Time, bool) {
	switch {
	case s.each == nil:
		return s.at, s.at.After(t)
	case s.cron:
		// The cron fields name wall-clock times of the action's zone:
		// run the parser on the wall clock written as UTC, and read its
		// answer back as wall clock.
		wall := func(x time.Time) time.Time {
			x = x.In(s.loc)
			return time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		}
		n, ok := s.each.Next(wall(from), wall(t))
		if !ok {
			return time.Time{}, false
		}
		at := time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), 0, 0, s.loc)
		if !at.After(t) { // a wall-clock hour repeated at the end of daylight saving time
			return s.next(from, t.Add(time.Hour))
		}
		return at, true
	}
	return s.each.Next(from, t)
}

// ScheduleState is what decides whether a scheduled action runs now.
type ScheduleState struct {
	Created    time.Time // when the action was created or last replaced
	Start, End time.Time // zero: unbounded
	LastRun    time.Time // zero: never
	Now        time.Time
}

// Due returns the run of s that is due at st.Now (the latest of those not
// yet run, missed runs being run once), if any. Runs before Start or after
// End do not count; a rate counts from Start when it is set, else from
// the action's creation.
func (s Schedule) Due(st ScheduleState) (time.Time, bool) {
	from := st.Created
	if !st.Start.IsZero() {
		from = st.Start
	}
	after := st.Created
	if st.LastRun.After(after) {
		after = st.LastRun
	}
	if s.each == nil {
		// at(...) runs once.
		if !st.LastRun.IsZero() || s.at.After(st.Now) {
			return time.Time{}, false
		}
		return s.at, inWindow(s.at, st)
	}
	if !st.Start.IsZero() && st.Start.After(after) {
		after = st.Start.Add(-time.Nanosecond)
	}
	var due time.Time
	for i := 0; i < 100_000; i++ { // bounded: a rate of a minute over ~2 months of missed runs
		n, ok := s.next(from, after)
		if !ok || n.After(st.Now) {
			break
		}
		due, after = n, n
	}
	if due.IsZero() || !inWindow(due, st) {
		return time.Time{}, false
	}
	return due, true
}

func inWindow(t time.Time, st ScheduleState) bool {
	return (st.Start.IsZero() || !t.Before(st.Start)) && (st.End.IsZero() || !t.After(st.End))
}

package scaling

import (
	"testing"
	"time"
)

func TestScheduleDue(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	created := utc("2026-12-07T10:00:30Z")
	tests := []struct {
		name, expr, tz string
		st             ScheduleState
		due            bool
		at             string
	}{
		{"at, not yet", "at(2026-12-07T12:00:00)", "", ScheduleState{Now: utc("2026-12-07T11:59:59Z")}, false, ""},
		{"at, due", "at(2026-12-07T12:00:00)", "", ScheduleState{Now: utc("2026-12-07T12:00:05Z")}, true, "2026-12-07T12:00:00Z"},
		{"at, already run", "at(2026-12-07T12:00:00)", "", ScheduleState{Now: utc("2026-12-07T12:01:00Z"), LastRun: utc("2026-12-07T12:00:05Z")}, false, ""},
		{"at in a time zone", "at(2026-12-07T21:00:00)", "Asia/Tokyo", ScheduleState{Now: utc("2026-12-07T12:00:05Z")}, true, "2026-12-07T12:00:00Z"},
		{"rate counts from creation", "rate(5 minutes)", "", ScheduleState{Now: utc("2026-12-07T10:05:29Z")}, false, ""},
		{"rate due", "rate(5 minutes)", "", ScheduleState{Now: utc("2026-12-07T10:05:31Z")}, true, "2026-12-07T10:05:30Z"},
		{"rate: missed runs run once, the latest", "rate(5 minutes)", "", ScheduleState{Now: utc("2026-12-07T10:21:00Z")}, true, "2026-12-07T10:20:30Z"},
		{"rate: run already", "rate(5 minutes)", "", ScheduleState{Now: utc("2026-12-07T10:21:00Z"), LastRun: utc("2026-12-07T10:20:31Z")}, false, ""},
		{"cron UTC", "cron(0 12 * * ? *)", "", ScheduleState{Now: utc("2026-12-07T12:00:10Z")}, true, "2026-12-07T12:00:00Z"},
		{"cron in Tokyo", "cron(0 9 * * ? *)", "Asia/Tokyo", ScheduleState{Now: utc("2026-12-08T00:00:10Z")}, true, "2026-12-08T00:00:00Z"},
		{"cron in Tokyo, not at 9 UTC", "cron(0 9 * * ? *)", "Asia/Tokyo", ScheduleState{Now: utc("2026-12-07T09:00:10Z")}, false, ""},
		{"before StartTime", "cron(* * * * ? *)", "", ScheduleState{Now: utc("2026-12-07T11:00:10Z"), Start: utc("2026-12-07T12:00:00Z")}, false, ""},
		{"after EndTime", "cron(* * * * ? *)", "", ScheduleState{Now: utc("2026-12-07T11:00:10Z"), End: utc("2026-12-07T10:30:00Z"), LastRun: utc("2026-12-07T10:30:00Z")}, false, ""},
		{"rate counts from StartTime", "rate(1 hour)", "", ScheduleState{Now: utc("2026-12-07T13:10:00Z"), Start: utc("2026-12-07T12:10:00Z")}, true, "2026-12-07T13:10:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.expr, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			st := tt.st
			st.Created = created
			at, due := s.Due(st)
			if due != tt.due || (due && !at.Equal(utc(tt.at))) {
				t.Errorf("Due = %v %v; want %v %s", at, due, tt.due, tt.at)
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tc := range []struct{ expr, tz string }{
		{"at(2026-13-01T00:00:00)", ""}, {"every day", ""}, {"rate(0 minutes)", ""}, {"cron(0 12 * * *)", ""}, {"rate(5 minutes)", "Mars/Olympus"},
	} {
		if _, err := ParseSchedule(tc.expr, tc.tz); err == nil {
			t.Errorf("ParseSchedule(%q, %q) accepted", tc.expr, tc.tz)
		}
	}
}

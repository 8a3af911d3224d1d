package schedule_test

import (
	"errors"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/events/schedule"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	from := at("2026-12-07 10:00")
	cases := []struct {
		expr, after, want string
	}{
		{"rate(1 minute)", "2026-12-07 10:00", "2026-12-07 10:01"},
		{"rate(1 minute)", "2026-12-07 10:00", "2026-12-07 10:01"},
		{"rate(5 minutes)", "2026-12-07 10:07", "2026-12-07 10:10"},
		{"rate(1 hour)", "2026-12-07 10:30", "2026-12-07 11:00"},
		{"rate(2 hours)", "2026-12-07 11:59", "2026-12-07 12:00"},
		{"rate(1 day)", "2026-12-07 10:00", "2026-12-08 10:00"},
		{"rate(7 days)", "2026-12-08 00:00", "2026-12-14 10:00"},
		{"rate(1 minute)", "2026-12-07 09:00", "2026-12-07 10:01"},
		// AWS documentation examples
		{"cron(0 10 * * ? *)", "2026-12-07 09:59", "2026-12-07 10:00"},
		{"cron(0 10 * * ? *)", "2026-12-07 10:00", "2026-12-08 10:00"},
		{"cron(15 12 * * ? *)", "2026-12-07 13:00", "2026-12-08 12:15"},
		{"cron(0 18 ? * MON-FRI *)", "2026-12-07 18:00", "2026-12-08 18:00"}, // Monday -> Tuesday
		{"cron(0 18 ? * MON-FRI *)", "2026-12-11 18:00", "2026-12-14 18:00"}, // Friday -> Monday
		{"cron(0 8 1 * ? *)", "2026-12-07 00:00", "2027-01-01 08:00"},
		{"cron(0/15 * * * ? *)", "2026-12-07 10:01", "2026-12-07 10:15"},
		{"cron(0/10 * ? * MON-FRI *)", "2026-12-12 00:00", "2026-12-14 00:00"}, // Saturday -> Monday
		{"cron(0/5 8-17 ? * MON-FRI *)", "2026-12-07 17:56", "2026-12-08 08:00"},
		{"cron(0 9 ? * 2#1 *)", "2026-12-07 10:00", "2027-01-04 09:00"}, // first Monday
		{"cron(0 9 ? * 2#1 *)", "2026-12-01 00:00", "2026-12-07 09:00"},
		{"cron(* * * * ? *)", "2026-12-07 10:00", "2026-12-07 10:01"},
		{"cron(*/1 * * * ? *)", "2026-12-07 10:59", "2026-12-07 11:00"},
		{"cron(0 0 L * ? *)", "2026-02-01 00:00", "2026-02-28 00:00"},
		{"cron(0 0 L * ? *)", "2028-02-01 00:00", "2028-02-29 00:00"},
		{"cron(0 0 ? * 6L *)", "2026-12-01 00:00", "2026-12-25 00:00"},  // last Friday
		{"cron(0 0 15W * ? *)", "2026-11-01 00:00", "2026-11-16 00:00"}, // 15th is a Sunday
		{"cron(0 0 15W * ? *)", "2026-08-01 00:00", "2026-08-14 00:00"}, // 15th is a Saturday
		{"cron(0 0 1W * ? *)", "2026-07-31 00:00", "2026-08-03 00:00"},  // 1st is a Saturday
		{"cron(0 12 ? * SUN,SAT *)", "2026-12-07 00:00", "2026-12-12 12:00"},
		{"cron(30 2 ? JAN-MAR 1 *)", "2026-12-07 00:00", "2027-01-03 02:30"},
		{"cron(0 0 29 2 ? *)", "2026-03-01 00:00", "2028-02-29 00:00"},
		{"cron(0 0 1 1 ? 2030)", "2026-03-01 00:00", "2030-01-01 00:00"},
		{"cron(0 0 1 1 ? 2027-2029/2)", "2027-01-01 00:00", "2029-01-01 00:00"},
		{"cron(5,10,15 * * * ? *)", "2026-12-07 10:10", "2026-12-07 10:15"},
		{"cron(0 0 ? * L *)", "2026-12-07 00:00", "2026-12-12 00:00"},
	}
	for _, c := range cases {
		s, err := schedule.Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		got, ok := s.Next(from, at(c.after))
		if !ok || !got.Equal(at(c.want)) {
			t.Errorf("%s after %s = %v %v, want %s", c.expr, c.after, got.Format("2006-01-02 15:04"), ok, c.want)
		}
	}
}

func TestNeverAgain(t *testing.T) {
	s, err := schedule.Parse("cron(0 0 1 1 ? 1999)")
	if err != nil {
		t.Fatal(err)
	}
	if next, ok := s.Next(time.Time{}, at("2026-01-01 00:00")); ok {
		t.Errorf("a past year fires at %v", next)
	}
	s, _ = schedule.Parse("cron(0 0 31 2 ? *)")
	if next, ok := s.Next(time.Time{}, at("2026-01-01 00:00")); ok {
		t.Errorf("February 31st fires at %v", next)
	}
}

func TestInvalid(t *testing.T) {
	for _, expr := range []string{
		"", "rate", "rate()", "rate(1)", "rate(0 minutes)", "rate(-1 minutes)", "rate(+1 minute)", "rate(1 minutes)",
		"rate(5 minute)", "rate(1 second)", "rate(1.5 hours)", "rate(1 week)", "rate(a minutes)", "every(1 minute)",
		"cron()", "cron(* * * * *)", "cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(60 * * * ? *)",
		"cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 0 * ? *)", "cron(0 0 * 13 ? *)", "cron(0 0 ? * 8 *)",
		"cron(0 0 ? * FOO *)", "cron(0 0 1 FOO ? *)", "cron(0 0 1 * ? 1969)", "cron(0 0 1 * ? 2200)",
		"cron(5-1 * * * ? *)", "cron(*/0 * * * ? *)", "cron(a * * * ? *)", "cron(0 0 ? * 2#6 *)", "cron(0 0 32W * ? *)",
		"cron(0 0 ? * 9L *)", "cron(0 0 1 * ? * *)", "rate(1 minute", "cron(0 0 1 * ?)",
	} {
		if _, err := schedule.Parse(expr); !errors.Is(err, schedule.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", expr, err)
		}
	}
}

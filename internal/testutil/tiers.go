package testutil

import "testing"

// SkipShort skips a test in the fast tier (`go test -short`): one that
// needs Docker, the real minato binary or the aws CLI, or that takes more
// than a few seconds. why says what it needs, for the skip message.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: skipped (%s); run without -short to include it", why)
	}
}

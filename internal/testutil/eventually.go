package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns true, and fails the test with
// what and cond's last report when timeout passes first. Tests wait for
// conditions with it, never for fixed times.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

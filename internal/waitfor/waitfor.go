// Package waitfor is for tests that wait for something to happen: they
// poll for it instead of sleeping a guessed time, which is too short on
// a busy machine and too long everywhere else.
package waitfor

import (
	"testing"
	"time"
)

// Every is how often Until asks.
const Every = 20 * time.Millisecond

// Until returns as soon as ok is true, and fails the test, naming what
// it waited for, if it is not within the time given.
func Until(t testing.TB, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(Every)
	}
}

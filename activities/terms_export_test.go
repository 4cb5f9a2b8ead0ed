package activities

import "testing"

// SetTermsBatch sets the new_term seeding page and lookup batch size until tb
// ends, so a test proves paging with a few thousand terms. Tests that call it
// must not run in parallel with other new_term sweeps.
func SetTermsBatch(tb testing.TB, n int) {
	old := termsBatch
	termsBatch = n
	tb.Cleanup(func() { termsBatch = old })
}

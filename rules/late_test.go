package rules

import (
	"fmt"
	"testing"
	"time"
)

// The processed list is bounded: past MaxProcessed documents in buffer_time
// the oldest are forgotten and the next sweep starts after them, so no
// document is evaluated twice and the state stays small.
func TestProcessedIsBounded(t *testing.T) {
	r := MustParse(t, "name: x\nindex: i\ntype: any\nbuffer_time: {minutes: 15}\n")
	st := &State{}
	start, end := ts(0), ts(time.Minute)
	var hits []Hit
	for i := range MaxProcessed + 1000 {
		hits = append(hits, Hit{ID: fmt.Sprint(i), Source: ev(time.Duration(i+1)*time.Millisecond*10, "i", i)})
	}
	if got, _ := r.FreshHits(st, hits, start, end); len(got) != len(hits) {
		t.Fatalf("%d fresh, want %d", len(got), len(hits))
	}
	if n := len(st.Processed); n != MaxProcessed {
		t.Fatalf("processed holds %d, want %d", n, MaxProcessed)
	}
	// The 1000 forgotten are the oldest: the next sweep starts after them.
	st.LastRunEnd = end
	next, _ := r.SweepWindow(st, ts(2*time.Minute))
	if want := ts(10 * time.Second); !next.Equal(want) {
		t.Fatalf("next sweep starts %s, want %s", next, want)
	}
	// Reading the same documents again yields none of the remembered ones.
	if got, _ := r.FreshHits(st, hits[1000:], next, ts(2*time.Minute)); len(got) != 0 {
		t.Fatalf("%d documents evaluated twice", len(got))
	}
}

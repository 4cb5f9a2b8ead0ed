package ingress

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// recent forgets a key after its ttl, and the oldest keys first when full.
func TestRecentForgets(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRecent(time.Hour, 3)
	r.now = func() time.Time { return clock }
	done := func(key string) {
		t.Helper()
		dup, finish, err := r.claim(context.Background(), key)
		if err != nil || dup {
			t.Fatalf("%s: dup %v err %v, want a fresh claim", key, dup, err)
		}
		finish(true)
	}
	isDup := func(key string) bool {
		dup, finish, _ := r.claim(context.Background(), key)
		if !dup {
			finish(false)
		}
		return dup
	}
	for i := range 4 {
		done(fmt.Sprint("k", i))
		clock = clock.Add(time.Minute)
	}
	if isDup("k0") || !isDup("k1") || !isDup("k3") {
		t.Fatal("over 3 keys: want k0 forgotten, k1 and k3 remembered")
	}
	if n, evicted := r.size(); n != 3 || evicted != 1 {
		t.Fatalf("size %d evicted %d, want 3 and 1", n, evicted)
	}
	clock = clock.Add(time.Hour - 2*time.Minute) // k1 is 61 minutes old, k3 59
	if isDup("k1") || !isDup("k3") {
		t.Fatal("after an hour: want k1 forgotten, k3 remembered")
	}
	// A failed attempt is not remembered.
	_, finish, _ := r.claim(context.Background(), "k9")
	finish(false)
	if isDup("k9") {
		t.Fatal("a failed key was remembered")
	}
}

package ingress

import (
	"context"
	"sync"
	"time"
)

// recent remembers keys of things already done (an SNS MessageId, a source
// clear) for ttl, so a redelivery is answered 2xx without being signalled a
// second time. Memory is bounded: past max keys the oldest are forgotten
// early, and evicted counts them (each is a redelivery that would count
// twice, so a non-zero value is worth a look).
//
// A key being worked on is claimed; a duplicate arriving meanwhile waits for
// the first to finish, and does the work itself if the first failed, so a
// 2xx for either still means the work was done.
type recent struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	done    map[string]time.Time // key → when it was done
	order   []recentEntry        // done keys, oldest first
	working map[string]chan struct{}
	evicted int
}

type recentEntry struct {
	key string
	at  time.Time
}

func newRecent(ttl time.Duration, max int) *recent {
	return &recent{ttl: ttl, max: max, now: time.Now, done: map[string]time.Time{}, working: map[string]chan struct{}{}}
}

// claim returns dup=true when key was done within ttl. Otherwise the caller
// owns key until it calls finish(ok): ok records key as done, !ok lets the
// next delivery try again. An error means ctx ended while another request
// was working on key.
func (r *recent) claim(ctx context.Context, key string) (dup bool, finish func(ok bool), err error) {
	for {
		r.mu.Lock()
		r.expire()
		if _, ok := r.done[key]; ok {
			r.mu.Unlock()
			return true, nil, nil
		}
		wait, busy := r.working[key]
		if !busy {
			ch := make(chan struct{})
			r.working[key] = ch
			r.mu.Unlock()
			return false, func(ok bool) { r.finish(key, ch, ok) }, nil
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
	}
}

func (r *recent) finish(key string, ch chan struct{}, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.working, key)
	close(ch)
	if !ok {
		return
	}
	at := r.now()
	r.done[key] = at
	r.order = append(r.order, recentEntry{key, at})
	for len(r.done) > r.max && len(r.order) > 0 {
		e := r.order[0]
		r.order = r.order[1:]
		if r.done[e.key].Equal(e.at) {
			delete(r.done, e.key)
			r.evicted++
		}
	}
}

// expire forgets keys older than ttl; r.mu is held.
func (r *recent) expire() {
	cut := r.now().Add(-r.ttl)
	n := 0
	for n < len(r.order) && r.order[n].at.Before(cut) {
		e := r.order[n]
		if r.done[e.key].Equal(e.at) {
			delete(r.done, e.key)
		}
		n++
	}
	// Dropping from the front leaves the old entries to the next append that
	// outgrows the array, which copies only the live ones.
	r.order = r.order[n:]
}

// size returns how many keys are remembered and how many were forgotten
// before their ttl.
func (r *recent) size() (remembered, evicted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.done), r.evicted
}

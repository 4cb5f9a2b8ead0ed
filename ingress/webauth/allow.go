package webauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// lookupTTL keeps Slack lookups for a while: a page asks on every
	// render, and users.lookupByEmail is rate limited.
	lookupTTL = time.Minute
)

// MayResolve reports whether id may resolve and snooze: everyone when
// ingress.slack.allow_resolve is empty; otherwise an email entry equal to
// id's email (any case), or, with the Slack lookups in Options, id's Slack
// user (found by email) listed or in a listed user group. An email the
// identity provider marked unverified (email_verified false) matches nothing. Acknowledging and
// re-scanning are open to everyone, as in Slack. The error is set only when
// nothing matched and a lookup failed: the answer may be wrong.
func (a *Authenticator) MayResolve(ctx context.Context, id Identity) (bool, error) {
	list := a.opts.AllowResolve
	if len(list) == 0 {
		return true, nil
	}
	email := strings.TrimSpace(id.Email)
	if email == "" || id.emailUnverified {
		// The shared password names nobody, and an unverified address
		// could be anyone's, so neither matches an entry.
		return false, nil
	}
	for _, e := range list {
		if strings.Contains(e, "@") && strings.EqualFold(e, email) {
			return true, nil
		}
	}
	hasSlack := slices.ContainsFunc(list, func(e string) bool { return !strings.Contains(e, "@") })
	if !hasSlack || a.opts.LookupSlackUser == nil {
		return false, nil
	}
	var errs []error
	user, err := a.slack.get(ctx, "user:"+strings.ToLower(email), func(ctx context.Context) ([]string, error) {
		u, err := a.opts.LookupSlackUser(ctx, email)
		if err != nil || u == "" {
			return nil, err
		}
		return []string{u}, nil
	})
	if err != nil {
		return false, fmt.Errorf("look up Slack user %s: %w", email, err)
	}
	if len(user) == 0 {
		return false, nil
	}
	uid := user[0]
	if slices.Contains(list, uid) {
		return true, nil
	}
	for _, e := range list {
		if !strings.HasPrefix(e, "S") || a.opts.GroupMembers == nil {
			continue
		}
		members, err := a.slack.get(ctx, "group:"+e, func(ctx context.Context) ([]string, error) {
			return a.opts.GroupMembers(ctx, e)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("list Slack user group %s: %w", e, err))
			continue
		}
		if slices.Contains(members, uid) {
			return true, nil
		}
	}
	return false, errors.Join(errs...)
}

// lookupCache keeps Slack answers for lookupTTL; errors are not kept.
type lookupCache struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedLookup
}

type cachedLookup struct {
	val []string
	at  time.Time
}

func newLookupCache(now func() time.Time) *lookupCache {
	return &lookupCache{now: now, m: map[string]cachedLookup{}}
}

func (c *lookupCache) get(ctx context.Context, key string, load func(context.Context) ([]string, error)) ([]string, error) {
	c.mu.Lock()
	if v, ok := c.m[key]; ok && c.now().Sub(v.at) < lookupTTL {
		c.mu.Unlock()
		return v.val, nil
	}
	c.mu.Unlock()
	val, err := load(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxTracked {
		clear(c.m)
	}
	c.m[key] = cachedLookup{val: val, at: c.now()}
	c.mu.Unlock()
	return val, nil
}

package webauth

import (
	"context"
	"errors"
	"testing"

	"github.com/irflow/irflow/internal/config"
)

func TestMayResolve(t *testing.T) {
	users := map[string]string{"alice@example.com": "U0ALICE", "carol@example.com": "W0CAROL", "dave@example.com": "U0DAVE"}
	groups := map[string][]string{"S0LEADS": {"U0OTHER", "U0DAVE"}}
	var lookups, listings int
	lookup := func(_ context.Context, email string) (string, error) {
		lookups++
		if email == "broken@example.com" {
			return "", errors.New("slack down")
		}
		return users[email], nil
	}
	members := func(_ context.Context, id string) ([]string, error) {
		listings++
		return groups[id], nil
	}
	alb := func(email string) Identity { return Identity{Subject: "s-" + email, Email: email, Via: ViaALB} }
	for _, tc := range []struct {
		name    string
		list    []string
		slack   bool
		id      Identity
		want    bool
		wantErr string
	}{
		{name: "empty list: everyone", id: alb("anyone@example.com"), want: true},
		{name: "empty list: password too", id: passwordIdentity(), want: true},
		{name: "email entry, any case", list: []string{"U0X", "Alice@Example.com"}, id: alb("alice@EXAMPLE.com"), want: true},
		{name: "email entry without Slack", list: []string{"bob@example.com"}, id: alb("alice@example.com"), want: false},
		{name: "Slack user ID via lookup", list: []string{"U0ALICE"}, slack: true, id: alb("alice@example.com"), want: true},
		{name: "W user ID via lookup", list: []string{"W0CAROL"}, slack: true, id: alb("carol@example.com"), want: true},
		{name: "Slack ID without lookup", list: []string{"U0ALICE"}, id: alb("alice@example.com"), want: false},
		{name: "user group via members", list: []string{"S0LEADS"}, slack: true, id: alb("dave@example.com"), want: true},
		{name: "not in group", list: []string{"S0LEADS", "U0ALICE"}, slack: true, id: alb("carol@example.com"), want: false},
		{name: "no Slack user with that email", list: []string{"U0ALICE"}, slack: true, id: alb("erin@example.com"), want: false},
		{name: "password names nobody", list: []string{"U0ALICE", "alice@example.com"}, slack: true, id: passwordIdentity(), want: false},
		{name: "unverified email", list: []string{"alice@example.com", "U0ALICE"}, slack: true,
			id: Identity{Subject: "x", Email: "alice@example.com", Via: ViaALB, emailUnverified: true}, want: false},
		{name: "lookup fails", list: []string{"U0ALICE"}, slack: true, id: alb("broken@example.com"), want: false,
			wantErr: "look up Slack user broken@example.com: slack down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{AllowResolve: tc.list}
			if tc.slack {
				opts.LookupSlackUser, opts.GroupMembers = lookup, members
			}
			a, err := New(config.Console{Auth: config.ConsoleAuthPassword, Password: testPassword}, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.MayResolve(context.Background(), tc.id)
			if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("MayResolve = %v, %v; want %v, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}

	// Answers are kept a minute: a page render does not cost a Slack call.
	clk := newClock()
	a, err := New(config.Console{Auth: config.ConsoleAuthPassword, Password: testPassword},
		Options{Now: clk.Now, AllowResolve: []string{"S0LEADS"}, LookupSlackUser: lookup, GroupMembers: members})
	if err != nil {
		t.Fatal(err)
	}
	lookups, listings = 0, 0
	for range 3 {
		if ok, err := a.MayResolve(context.Background(), alb("dave@example.com")); !ok || err != nil {
			t.Fatalf("MayResolve = %v, %v", ok, err)
		}
	}
	if lookups != 1 || listings != 1 {
		t.Fatalf("%d lookups, %d listings for 3 checks, want 1 each", lookups, listings)
	}
	clk.Add(lookupTTL)
	groups["S0LEADS"] = nil
	if ok, _ := a.MayResolve(context.Background(), alb("dave@example.com")); ok {
		t.Fatal("removed from the group, still allowed after the cache expired")
	}
}

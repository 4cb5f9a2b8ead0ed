package webauth

import (
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/ingress/webauth/albtest"
)

// FuzzIdentifyALB: no header value panics the verifier, and none yields an
// identity unless it carries a valid signature by the ALB's key (checked
// here by albtest's own verifier, the reference).
func FuzzIdentifyALB(f *testing.F) {
	ks := albtest.New()
	defer ks.Close()
	a := mustALB(f, ks, nil)
	exp := t0.Add(time.Hour)
	valid := ks.Sign(alice, albtest.SignerARN, exp)
	for _, seed := range []string{
		valid,
		ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": exp.Unix()}, Padded: true}),
		ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"alg": "none", "exp": exp.Unix()}, Signature: []byte{}}),
		ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"kid": "../../x", "exp": exp.Unix()}}),
		ks.Sign(map[string]any{"sub": "x", "email": ""}, albtest.SignerARN, exp),
		ks.Sign(nil, albtest.SignerARN, exp),
		strings.ReplaceAll(valid, ".", ".."),
		"", ".", "..", "a.b.c", "e30.e30.", "e30=.e30=.AA==",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, err := a.Identify(albRequest(header))
		if err != nil {
			if id != (Identity{}) {
				t.Fatalf("refused (%v), yet identity %+v", err, id)
			}
			return
		}
		if !ks.Verify(header) {
			t.Fatalf("identity %+v from a header without a valid signature: %q", id, header)
		}
		if strings.TrimSpace(id.Actor()) == "" || id.Via != ViaALB {
			t.Fatalf("identity %+v has no actor", id)
		}
	})
}

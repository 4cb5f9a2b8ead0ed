package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
)

// FingerprintVersion is bumped if the recipe below ever changes; it is hashed in,
// so old and new fingerprints never collide by accident.
const FingerprintVersion = "v1"

// Fingerprint identifies the incident an alert belongs to. It is the first 16 bytes,
// in hex, of SHA-256 over, separated by NUL bytes:
//
//	"v1", source, rule, env, external_id, then "key=value" for each query key in key order
//
// Names are lowercased and trimmed; query-key values are kept as sent. Severity,
// time, title and fields are left out, so a re-sent or re-worded alert joins the
// same incident. The incident's workflow ID is "incident-" + Fingerprint.
func Fingerprint(a Alert) string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	norm := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	write(FingerprintVersion)
	write(norm(a.Source))
	write(norm(a.Rule))
	write(norm(a.Env))
	write(a.ExternalID)
	for _, k := range slices.Sorted(maps.Keys(a.QueryKey)) {
		write(k + "=" + a.QueryKey[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

package incident

import "testing"

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "anything", true},
		{"waf-logs-*", "waf-logs-2026.12.01", true},
		{"waf-logs-*", "uc-be-2026.12.01", false},
		{"*5XX*", "alb 5xx count", true},
		{"waf-?", "WAF-1", true},
		{"waf-?", "waf-10", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"*", "", true},
		{"?", "", false},
	} {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

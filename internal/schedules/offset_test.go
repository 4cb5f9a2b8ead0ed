package schedules

import (
	"fmt"
	"testing"
	"time"

	"github.com/irflow/irflow/workflows"
)

// A thousand every-1m rules spread over the minute instead of all firing on
// it: every second gets some, none gets more than a few times its share, and
// a rule's offset is the same on every apply.
func TestRuleOffsetsSpreadOverTheInterval(t *testing.T) {
	perSecond := map[time.Duration]int{}
	for i := range 1000 {
		id := workflows.RuleScheduleID(fmt.Sprintf("rule-%d", i))
		off := RuleOffset(id, time.Minute)
		if off < 0 || off >= time.Minute || off%time.Second != 0 {
			t.Fatalf("%s: offset %s outside [0, 1m) or not whole seconds", id, off)
		}
		if again := RuleOffset(id, time.Minute); again != off {
			t.Fatalf("%s: offset %s then %s", id, off, again)
		}
		perSecond[off]++
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	if len(perSecond) != 60 || busiest > 40 {
		t.Fatalf("%d of 60 seconds used, busiest holds %d of 1000 rules", len(perSecond), busiest)
	}
	if off := RuleOffset("x", time.Second); off != 0 {
		t.Errorf("a 1s interval got offset %s", off)
	}
}

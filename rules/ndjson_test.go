package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestReadNDJSON(t *testing.T) {
	in := "{\"a\":1}\n\n  {\"a\":2}\r\n{\"a\":3}"
	var lines []int
	err := ReadNDJSON(strings.NewReader(in), func(line int, e Event) error {
		lines = append(lines, line)
		if e["a"] != float64(len(lines)) {
			t.Errorf("line %d: event %v", line, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || lines[2] != 4 {
		t.Fatalf("lines %v, want [1 3 4] (blank lines counted, skipped)", lines)
	}

	tests := []struct{ in, want string }{
		{"{\"a\":1}\n{\"a\":\n", "line 2: unexpected end of JSON input"},
		{"{\"a\":1}\n[1,2]\n", "line 2: json: cannot unmarshal array into Go value of type rules.Event"},
		{"null\n", "line 1: want a JSON object, got null"},
	}
	for _, tt := range tests {
		err := ReadNDJSON(strings.NewReader(tt.in), func(int, Event) error { return nil })
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %q", tt.in, err, tt.want)
		}
	}

	stop := errors.New("stop")
	n := 0
	err = ReadNDJSON(strings.NewReader("{}\n{}\n{}\n"), func(int, Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error not passed back: %v after %d events", err, n)
	}
}

func TestReadNDJSONLongLine(t *testing.T) {
	long := `{"message":"` + strings.Repeat("x", 1<<20) + `"}` + "\n"
	n := 0
	if err := ReadNDJSON(strings.NewReader(long+long), func(int, Event) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("1 MiB lines: %d events, err %v", n, err)
	}
}

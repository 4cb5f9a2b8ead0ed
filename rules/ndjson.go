package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ReadNDJSON streams newline-delimited JSON objects from r to fn, one Event per
// non-blank line. Errors name the 1-based line. fn may stop the read by
// returning an error, which is passed back unchanged.
func ReadNDJSON(r io.Reader, fn func(line int, e Event) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	line := 0
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			b = bytes.TrimSpace(b)
			if len(b) > 0 {
				var e Event
				if jerr := json.Unmarshal(b, &e); jerr != nil {
					return fmt.Errorf("line %d: %w", line, jerr)
				}
				if e == nil {
					return fmt.Errorf("line %d: want a JSON object, got null", line)
				}
				if ferr := fn(line, e); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line+1, err)
		}
	}
}

// ReadNDJSONFile reads a whole NDJSON file into memory.
func ReadNDJSONFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer f.Close()
	var out []Event
	err = ReadNDJSON(f, func(_ int, e Event) error { out = append(out, e); return nil })
	if err != nil {
		return nil, fmt.Errorf("read events %s: %w", path, err)
	}
	return out, nil
}

package logpipe

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Decoder reads CloudWatch Logs subscription payloads: gzip-compressed JSON
// as CloudWatch Logs writes them into Firehose, or the same JSON plain (as
// the transform re-ingests single events, and as NDJSON files hold them).
// It reuses its buffers: a Payload's messages are valid until the next
// Decode. Not safe for concurrent use.
type Decoder struct {
	zr   *gzip.Reader
	raw  bytes.Buffer
	msgs []byte
	offs []int // start, end of each message in msgs
}

// maxPayload bounds a decompressed payload. CloudWatch Logs sends at most
// about 1 MB compressed; this leaves room for very repetitive logs without
// letting a gzip bomb take the function's memory.
const maxPayload = 64 << 20

// Decode reads data into p.
func (d *Decoder) Decode(data []byte, p *Payload) error {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		if d.zr == nil {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("gunzip: %w", err)
			}
			d.zr = zr
		} else if err := d.zr.Reset(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		d.raw.Reset()
		n, err := d.raw.ReadFrom(io.LimitReader(d.zr, maxPayload+1))
		if err != nil {
			return fmt.Errorf("gunzip: %w", err)
		}
		if n > maxPayload {
			return fmt.Errorf("gunzip: payload over %d MB", maxPayload>>20)
		}
		data = d.raw.Bytes()
	}
	return d.parse(data, p)
}

// parse reads the payload JSON. Unknown keys are skipped (validated);
// repeated keys keep the last value, as encoding/json does.
func (d *Decoder) parse(b []byte, p *Payload) error {
	*p = Payload{Events: p.Events[:0], SubscriptionFilters: p.SubscriptionFilters[:0]}
	d.msgs, d.offs = d.msgs[:0], d.offs[:0]
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("not a CloudWatch Logs payload: want gzip or a JSON object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return d.finish(b, i+1, p)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errSyntax
		}
		end, flags, err := scanString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		if flags != 0 {
			key = []byte(unquote(b[i:end], flags))
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		if i = skipWS(b, i+1); i >= len(b) {
			return errSyntax
		}
		switch string(key) {
		case "messageType":
			i, err = stringField(b, i, &p.MessageType, "messageType")
		case "owner":
			i, err = stringField(b, i, &p.Owner, "owner")
		case "logGroup":
			i, err = stringField(b, i, &p.LogGroup, "logGroup")
		case "logStream":
			i, err = stringField(b, i, &p.LogStream, "logStream")
		case "subscriptionFilters":
			i, err = d.filters(b, i, p)
		case "logEvents":
			i, err = d.events(b, i, p)
		default:
			i, err = skipValue(b, i, 1)
		}
		if err != nil {
			return err
		}
		after, done, err := listNext(b, i, '}')
		if err != nil {
			return err
		}
		if done {
			return d.finish(b, after, p)
		}
		i = after
	}
}

func (d *Decoder) finish(b []byte, i int, p *Payload) error {
	if skipWS(b, i) != len(b) {
		return errors.New("data after the payload object")
	}
	for k := range p.Events {
		p.Events[k].Message = d.msgs[d.offs[2*k]:d.offs[2*k+1]]
	}
	return nil
}

func stringField(b []byte, i int, dst *string, name string) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	if b[i] == 'n' {
		*dst = ""
		return literal(b, i, "null")
	}
	if b[i] != '"' {
		return 0, fmt.Errorf("%s: want a string", name)
	}
	end, flags, err := scanString(b, i)
	if err != nil {
		return 0, err
	}
	*dst = unquote(b[i:end], flags)
	return end, nil
}

func (d *Decoder) filters(b []byte, i int, p *Payload) (int, error) {
	p.SubscriptionFilters = p.SubscriptionFilters[:0]
	if b[i] == 'n' {
		return literal(b, i, "null")
	}
	if b[i] != '[' {
		return 0, errors.New("subscriptionFilters: want an array")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var s string
		var err error
		if i, err = stringField(b, i, &s, "subscriptionFilters[]"); err != nil {
			return 0, err
		}
		p.SubscriptionFilters = append(p.SubscriptionFilters, s)
		var done bool
		if i, done, err = listNext(b, i, ']'); err != nil || done {
			return i, err
		}
	}
}

// listNext moves past a separator to the next element, or past the closing
// bracket (done).
func listNext(b []byte, i int, closer byte) (next int, done bool, err error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false, errSyntax
	}
	if b[i] == closer {
		return i + 1, true, nil
	}
	if b[i] != ',' {
		return 0, false, errSyntax
	}
	return skipWS(b, i+1), false, nil
}

func (d *Decoder) events(b []byte, i int, p *Payload) (int, error) {
	// A repeated logEvents key replaces the first, as in encoding/json.
	p.Events = p.Events[:0]
	d.msgs, d.offs = d.msgs[:0], d.offs[:0]
	if b[i] == 'n' {
		return literal(b, i, "null")
	}
	if b[i] != '[' {
		return 0, errors.New("logEvents: want an array")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		var err error
		if i, err = d.event(b, i, n, p); err != nil {
			return 0, err
		}
		var done bool
		if i, done, err = listNext(b, i, ']'); err != nil || done {
			return i, err
		}
	}
}

func (d *Decoder) event(b []byte, i, n int, p *Payload) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, fmt.Errorf("logEvents[%d]: want an object", n)
	}
	var ev Event
	msgStart, msgEnd := len(d.msgs), len(d.msgs)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, errSyntax
			}
			end, flags, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			key := b[i+1 : end-1]
			if flags != 0 {
				key = []byte(unquote(b[i:end], flags))
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, errSyntax
			}
			i = skipWS(b, i+1)
			if i >= len(b) {
				return 0, errSyntax
			}
			switch string(key) {
			case "id":
				if i, err = stringField(b, i, &ev.ID, "id"); err != nil {
					err = fmt.Errorf("logEvents[%d].%w", n, err) // formatted only on failure: this runs for every event
				}
			case "timestamp":
				i, err = timestampField(b, i, &ev.Timestamp, n)
			case "message":
				switch {
				case b[i] == '"':
					msgStart = len(d.msgs)
					if d.msgs, i, err = appendDecoded(d.msgs, b, i); err == nil {
						msgEnd = len(d.msgs)
					}
				case b[i] == 'n':
					msgStart, msgEnd = len(d.msgs), len(d.msgs)
					i, err = literal(b, i, "null")
				default:
					err = fmt.Errorf("logEvents[%d].message: want a string", n)
				}
			default:
				i, err = skipValue(b, i, 2)
			}
			if err != nil {
				return 0, err
			}
			var done bool
			if i, done, err = listNext(b, i, '}'); err != nil {
				return 0, err
			}
			if done {
				break
			}
		}
	}
	p.Events = append(p.Events, ev)
	d.offs = append(d.offs, msgStart, msgEnd)
	return i, nil
}

func timestampField(b []byte, i int, dst *int64, n int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	if b[i] == 'n' {
		*dst = 0
		return literal(b, i, "null")
	}
	end, err := scanNumber(b, i)
	if err != nil {
		return 0, fmt.Errorf("logEvents[%d].timestamp: want a number", n)
	}
	v, ok := parseInt(b[i:end])
	if !ok {
		return 0, fmt.Errorf("logEvents[%d].timestamp: %s is not milliseconds since the epoch", n, b[i:end])
	}
	*dst = v
	return end, nil
}

// AppendPayload appends the plain JSON payload of one event of pl: what
// the transform puts back into the delivery stream for an event that did
// not fit its record's output. It decodes to the same group, stream, owner
// and event.
func AppendPayload(dst []byte, pl *Payload, ev *Event) []byte {
	dst = append(dst, `{"messageType":"DATA_MESSAGE","owner":`...)
	dst = appendString(dst, pl.Owner)
	dst = append(dst, `,"logGroup":`...)
	dst = appendString(dst, pl.LogGroup)
	dst = append(dst, `,"logStream":`...)
	dst = appendString(dst, pl.LogStream)
	dst = append(dst, `,"subscriptionFilters":[`...)
	for i, f := range pl.SubscriptionFilters {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, f)
	}
	dst = append(dst, `],"logEvents":[{"id":`...)
	dst = appendString(dst, ev.ID)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, ev.Timestamp, 10)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, ev.Message)
	return append(dst, `}]}`...)
}

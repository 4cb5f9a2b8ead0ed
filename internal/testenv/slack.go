// Slack is an in-process Slack Web API for tests. It extends
// slack-go's slacktest server with the methods irflow uses and slacktest lacks
// (chat.update, conversations.history with metadata, chat.getPermalink,
// conversations.list, usergroups), records every call, and can inject faults.
package testenv

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
)

// SlackCall is one Web API request the fake received.
type SlackCall struct {
	Method   string
	Channel  string // as sent: an ID or a #name
	TS       string // ts for chat.update, message_ts for chat.getPermalink, the new ts for posts
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	Metadata json.RawMessage
	Values   url.Values
	// Error is the Slack error code the fake answered with ("" when ok,
	// "ratelimited" for an injected 429, "response_lost" when the call took
	// effect but its answer was dropped, the status text for an injected
	// HTTP status such as "Service Unavailable").
	Error string
	// At is when the fake received the call.
	At time.Time
}

// SlackMessage is a message the fake holds in a channel.
type SlackMessage struct {
	Channel  string          `json:"-"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	Text     string          `json:"text"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	User     string          `json:"user,omitempty"`
	BotID    string          `json:"bot_id,omitempty"`
	Edited   int             `json:"-"` // how many chat.update calls changed it
}

// SlackFault is how the fake answers a call instead of doing it, or after.
type SlackFault struct {
	// Code is the Slack error code answered with {"ok":false,"error":Code};
	// "ratelimited" answers HTTP 429 with Retry-After instead.
	Code string
	// RetryAfter is the 429's Retry-After (whole seconds, rounded up).
	RetryAfter time.Duration
	// HTTPStatus, when set, answers with that status and no JSON (a 503 from
	// Slack's edge), which clients retry.
	HTTPStatus int
	// LoseResponse applies the call, then drops the connection unanswered.
	LoseResponse bool
}

// codeResponseLost marks calls whose answer LoseResponseNext dropped.
const codeResponseLost = "response_lost"

// Slack is a running fake Slack.
type Slack struct {
	srv *slacktest.Server

	mu         sync.Mutex
	calls      []SlackCall
	faults     map[string][]SlackFault
	forbidden  map[string]string // method → error code every call answers
	inject     func(method string) *SlackFault
	chanByName map[string]string // name without # → ID
	chanName   map[string]string // ID → name
	unlisted   map[string]bool   // IDs conversations.list leaves out
	messages   map[string][]*SlackMessage
	groups     map[string]userGroup // ID → group
	lastTS     time.Time
	nextID     int
	onCall     func(SlackCall)
}

type userGroup struct {
	ID, Handle string
	Users      []string
}

// NewSlack starts a fake Slack that stops when the test ends.
func NewSlack(tb testing.TB) *Slack {
	tb.Helper()
	f := StartSlack()
	tb.Cleanup(f.Close)
	return f
}

// StartSlack starts a fake Slack outside a test (benchmarks, demos); Close stops it.
func StartSlack() *Slack {
	f := &Slack{
		faults:     map[string][]SlackFault{},
		forbidden:  map[string]string{},
		chanByName: map[string]string{},
		chanName:   map[string]string{},
		unlisted:   map[string]bool{},
		messages:   map[string][]*SlackMessage{},
		groups:     map[string]userGroup{},
	}
	// Binders run before slacktest registers its defaults, and the first
	// registration of a path wins, so these replace slacktest's handlers.
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		for method, h := range map[string]func(url.Values) (any, string){
			"chat.postMessage":      f.postMessage,
			"chat.postEphemeral":    f.postEphemeral,
			"chat.update":           f.update,
			"chat.getPermalink":     f.permalink,
			"conversations.history": f.history,
			"conversations.replies": f.replies,
			"conversations.list":    f.list,
			"usergroups.list":       f.userGroups,
			"usergroups.users.list": f.userGroupUsers,
		} {
			c.Handle("/"+method, f.handler(method, h))
		}
	})
	f.srv.Start()
	return f
}

// Close stops the fake's server.
func (f *Slack) Close() { f.srv.Stop() }

// OnCall sets a function called with every call after it is recorded and
// before it is answered, for callers that time arrivals. Set it before use.
func (f *Slack) OnCall(fn func(SlackCall)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCall = fn
}

// URL is the API base URL, ending in "/", for slack.OptionAPIURL.
func (f *Slack) URL() string { return f.srv.GetAPIURL() }

// AddChannel creates a channel (name with or without "#") and returns its ID.
// Posting to a channel that was never added fails with channel_not_found, as in Slack.
func (f *Slack) AddChannel(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = strings.TrimPrefix(name, "#")
	if id, ok := f.chanByName[name]; ok {
		return id
	}
	f.nextID++
	id := fmt.Sprintf("C%08d", f.nextID)
	f.chanByName[name] = id
	f.chanName[id] = name
	return id
}

// AddUnlistedChannel creates a channel that chat.postMessage and
// conversations.history accept but conversations.list leaves out, as Slack
// does for a private channel the bot is in when the token lacks groups:read.
func (f *Slack) AddUnlistedChannel(name string) string {
	id := f.AddChannel(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlisted[id] = true
	return id
}

// AddUserGroup creates a user group with a handle and members and returns its ID.
func (f *Slack) AddUserGroup(handle string, users ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("S%08d", f.nextID)
	f.groups[id] = userGroup{ID: id, Handle: strings.TrimPrefix(handle, "@"), Users: users}
	return id
}

// ChannelID returns the ID of a channel added by name, or "".
func (f *Slack) ChannelID(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chanByName[strings.TrimPrefix(name, "#")]
}

// FailNext makes the next call of method answer {"ok":false,"error":code}.
// Call it n times to fail n calls.
func (f *Slack) FailNext(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], SlackFault{Code: code})
}

// Forbid makes every call of method answer {"ok":false,"error":code} until
// Forbid(method, "") lifts it: Forbid("conversations.list", "missing_scope")
// is a token without channels:read.
func (f *Slack) Forbid(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.forbidden, method)
		return
	}
	f.forbidden[method] = code
}

// InjectFaults sets fn, asked about every call that no queued fault
// (FailNext, RateLimitNext, LoseResponseNext) or Forbid covers; a nil answer
// lets the call through. fn runs with the fake's lock held: it must not call
// the fake. Set it to nil to stop.
func (f *Slack) InjectFaults(fn func(method string) *SlackFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = fn
}

// RateLimitNext makes the next call of method answer HTTP 429 with Retry-After
// (whole seconds, rounded up).
func (f *Slack) RateLimitNext(method string, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], SlackFault{Code: "ratelimited", RetryAfter: retryAfter})
}

// LoseResponseNext makes the next call of method take effect (a post is
// recorded and visible in history) and then closes the connection without an
// answer, as when Slack's response is lost on the way back. The call is
// recorded with Error "response_lost".
func (f *Slack) LoseResponseNext(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], SlackFault{LoseResponse: true})
}

// Calls returns the calls of method (every method if method is ""), failed ones included.
func (f *Slack) Calls(method string) []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SlackCall
	for _, c := range f.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// OKCalls returns the calls of method that succeeded at the fake, including
// those whose answer LoseResponseNext dropped.
func (f *Slack) OKCalls(method string) []SlackCall {
	return slices.DeleteFunc(f.Calls(method), func(c SlackCall) bool { return c.Error != "" && c.Error != codeResponseLost })
}

// Messages returns copies of the messages in a channel (ID or name), oldest
// first, thread replies included.
func (f *Slack) Messages(channel string) []SlackMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.resolve(channel)
	if !ok {
		return nil
	}
	out := make([]SlackMessage, len(f.messages[id]))
	for i, m := range f.messages[id] {
		out[i] = *m
	}
	return out
}

// Replies returns the thread replies to the message ts in channel, oldest first.
func (f *Slack) Replies(channel, ts string) []SlackMessage {
	var out []SlackMessage
	for _, m := range f.Messages(channel) {
		if m.ThreadTS == ts && m.TS != ts {
			out = append(out, m)
		}
	}
	return out
}

func (f *Slack) handler(method string, h func(url.Values) (any, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		v := r.Form
		call := SlackCall{
			Method: method, Channel: v.Get("channel"), TS: v.Get("ts"), ThreadTS: v.Get("thread_ts"),
			Text: v.Get("text"), Values: v, At: time.Now(),
		}
		if method == "chat.getPermalink" {
			call.TS = v.Get("message_ts")
		}
		if b := v.Get("blocks"); b != "" {
			call.Blocks = json.RawMessage(b)
		}
		if m := v.Get("metadata"); m != "" {
			call.Metadata = json.RawMessage(m)
		}

		f.mu.Lock()
		var flt *SlackFault
		switch q := f.faults[method]; {
		case len(q) > 0:
			flt, f.faults[method] = &q[0], q[1:]
		case f.forbidden[method] != "":
			flt = &SlackFault{Code: f.forbidden[method]}
		case f.inject != nil:
			flt = f.inject(method)
		}
		var resp any
		code := ""
		switch {
		case flt != nil && flt.HTTPStatus != 0:
			code = http.StatusText(flt.HTTPStatus)
		case flt != nil && !flt.LoseResponse:
			code = flt.Code
		default:
			resp, code = h(v)
			if ts, ok := resp.(postResult); ok && method != "chat.update" {
				call.TS = ts.TS
			}
		}
		call.Error = code
		lost := flt != nil && flt.LoseResponse && flt.HTTPStatus == 0
		if lost && code == "" {
			call.Error = codeResponseLost
		}
		f.calls = append(f.calls, call)
		onCall := f.onCall
		f.mu.Unlock()
		if onCall != nil {
			onCall(call)
		}
		if lost {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // also drops the answer, where hijacking is not possible
		}

		w.Header().Set("Content-Type", "application/json")
		switch {
		case flt != nil && flt.HTTPStatus != 0:
			w.WriteHeader(flt.HTTPStatus)
			_, _ = w.Write([]byte(http.StatusText(flt.HTTPStatus)))
		case flt != nil && !flt.LoseResponse && flt.Code == "ratelimited":
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(flt.RetryAfter.Seconds()))))
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
		case code != "":
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
		default:
			_, _ = w.Write(withOK(resp))
		}
	}
}

// withOK encodes resp, a JSON object, with "ok":true added. It splices rather
// than re-decoding, so large history pages stay cheap for benchmarks.
func withOK(resp any) []byte {
	b, err := json.Marshal(resp)
	if err != nil || len(b) < 2 || b[0] != '{' || string(b) == "{}" {
		return []byte(`{"ok":true}` + "\n")
	}
	out := append([]byte(`{"ok":true,`), b[1:]...)
	return append(out, '\n')
}

// resolve maps an ID, "#name" or "name" to a channel ID. Callers hold f.mu.
func (f *Slack) resolve(channel string) (string, bool) {
	if _, ok := f.chanName[channel]; ok {
		return channel, true
	}
	id, ok := f.chanByName[strings.TrimPrefix(channel, "#")]
	return id, ok
}

// newTS returns a unique, increasing Slack timestamp near the wall clock.
func (f *Slack) newTS() string {
	now := time.Now().Truncate(time.Microsecond)
	if !now.After(f.lastTS) {
		now = f.lastTS.Add(time.Microsecond)
	}
	f.lastTS = now
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

type postResult struct {
	Channel      string       `json:"channel"`
	TS           string       `json:"ts"`
	SlackMessage SlackMessage `json:"message"`
}

func (f *Slack) postMessage(v url.Values) (any, string) {
	id, ok := f.resolve(v.Get("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	if v.Get("text") == "" && v.Get("blocks") == "" {
		return nil, "no_text"
	}
	if len(v.Get("text")) > 40000 {
		return nil, "msg_too_long"
	}
	m := &SlackMessage{Channel: id, TS: f.newTS(), ThreadTS: v.Get("thread_ts"), Text: v.Get("text"), BotID: "B0IRFLOW"}
	if b := v.Get("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	if md := v.Get("metadata"); md != "" {
		m.Metadata = json.RawMessage(md)
	}
	f.messages[id] = append(f.messages[id], m)
	return postResult{Channel: id, TS: m.TS, SlackMessage: *m}, ""
}

func (f *Slack) postEphemeral(v url.Values) (any, string) {
	if _, ok := f.resolve(v.Get("channel")); !ok {
		return nil, "channel_not_found"
	}
	return map[string]string{"message_ts": f.newTS()}, ""
}

func (f *Slack) find(channelID, ts string) *SlackMessage {
	for _, m := range f.messages[channelID] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func (f *Slack) update(v url.Values) (any, string) {
	id, ok := f.resolve(v.Get("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	m := f.find(id, v.Get("ts"))
	if m == nil {
		return nil, "message_not_found"
	}
	if t := v.Get("text"); t != "" {
		m.Text = t
	}
	if b := v.Get("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	m.Edited++
	return postResult{Channel: id, TS: m.TS, SlackMessage: *m}, ""
}

func (f *Slack) permalink(v url.Values) (any, string) {
	id, ok := f.resolve(v.Get("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	ts := v.Get("message_ts")
	if f.find(id, ts) == nil {
		return nil, "message_not_found"
	}
	return map[string]string{
		"channel":   id,
		"permalink": "https://fake.slack.test/archives/" + id + "/p" + strings.ReplaceAll(ts, ".", ""),
	}, ""
}

// history answers conversations.history: top-level messages, newest first,
// filtered by oldest/latest (exclusive), paged by limit and an offset cursor.
// Metadata is returned only with include_all_metadata, as in Slack.
func (f *Slack) history(v url.Values) (any, string) {
	id, ok := f.resolve(v.Get("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	var top []*SlackMessage
	for _, m := range f.messages[id] {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			top = append(top, m)
		}
	}
	return f.page(top, v, true)
}

func (f *Slack) replies(v url.Values) (any, string) {
	id, ok := f.resolve(v.Get("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	ts := v.Get("ts")
	var thread []*SlackMessage
	for _, m := range f.messages[id] {
		if m.TS == ts || m.ThreadTS == ts {
			thread = append(thread, m)
		}
	}
	if len(thread) == 0 {
		return nil, "thread_not_found"
	}
	return f.page(thread, v, false)
}

func (f *Slack) page(msgs []*SlackMessage, v url.Values, newestFirst bool) (any, string) {
	oldest, _ := strconv.ParseFloat(v.Get("oldest"), 64)
	latest := math.Inf(1)
	if l := v.Get("latest"); l != "" {
		latest, _ = strconv.ParseFloat(l, 64)
	}
	var sel []SlackMessage
	for _, m := range msgs {
		ts, _ := strconv.ParseFloat(m.TS, 64)
		if ts > oldest && ts < latest {
			c := *m
			if v.Get("include_all_metadata") != "1" && v.Get("include_all_metadata") != "true" {
				c.Metadata = nil
			}
			sel = append(sel, c)
		}
	}
	if newestFirst {
		sort.SliceStable(sel, func(i, j int) bool { return sel[i].TS > sel[j].TS })
	}
	start, _ := strconv.Atoi(v.Get("cursor"))
	limit, _ := strconv.Atoi(v.Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	start = min(start, len(sel))
	end := min(start+limit, len(sel))
	resp := map[string]any{"messages": sel[start:end], "has_more": end < len(sel)}
	if end < len(sel) {
		resp["response_metadata"] = map[string]string{"next_cursor": strconv.Itoa(end)}
	}
	return resp, ""
}

func (f *Slack) list(url.Values) (any, string) {
	type channel struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var out []channel
	for id, name := range f.chanName {
		if !f.unlisted[id] {
			out = append(out, channel{ID: id, Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return map[string]any{"channels": out}, ""
}

func (f *Slack) userGroups(url.Values) (any, string) {
	type group struct {
		ID     string   `json:"id"`
		Handle string   `json:"handle"`
		Users  []string `json:"users"`
	}
	var out []group
	for _, g := range f.groups {
		out = append(out, group{ID: g.ID, Handle: g.Handle, Users: g.Users})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return map[string]any{"usergroups": out}, ""
}

func (f *Slack) userGroupUsers(v url.Values) (any, string) {
	g, ok := f.groups[v.Get("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	return map[string]any{"users": g.Users}, ""
}

package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// NotifierName is MessageRef.Notifier for Slack messages.
const NotifierName = "slack"

// MetadataEventType marks irflow's incident messages in Slack message metadata,
// so Find can tell them apart from anything else in the channel.
const MetadataEventType = "irflow_incident"

// findWindow is how far before the incident opened Find looks, and findPages
// how many pages of history it reads, so a busy channel cannot make it slow.
const (
	findWindow   = time.Minute
	findPageSize = 200
	findPages    = 5
)

// Notifier posts incidents to Slack. It implements activities.Notifier.
type Notifier struct {
	cfg  config.Slack
	api  *slackapi.Client
	http *http.Client
	base string // Web API base URL, ending in /
	log  *slog.Logger

	mu       sync.Mutex
	channels map[string]string    // channel name (no #) → ID
	groups   map[string]string    // user group handle (no @) → ID
	listedAt time.Time            // the last conversations.list, ...
	listErr  error                // ... and how it failed
	listing  chan struct{}        // held while listing
	avoided  map[string]avoidance // routed channel → when and why a post there was refused
}

var _ activities.Notifier = (*Notifier)(nil)

type options struct {
	httpClient *http.Client
	logger     *slog.Logger
}

// Option configures New.
type Option func(*options)

// WithHTTPClient sets the HTTP client for Slack's Web API (default: 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New validates cfg and returns a Notifier.
func New(cfg config.Slack, opts ...Option) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{httpClient: &http.Client{Timeout: 30 * time.Second}, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	hc := *o.httpClient
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = countErrors{next}
	o.httpClient = &hc
	apiOpts := []slackapi.Option{slackapi.OptionHTTPClient(o.httpClient)}
	if cfg.APIURL != "" {
		apiOpts = append(apiOpts, slackapi.OptionAPIURL(cfg.APIURL))
	}
	base := slackapi.APIURL
	if cfg.APIURL != "" {
		base = cfg.APIURL
	}
	return &Notifier{
		cfg:      cfg,
		api:      slackapi.New(cfg.Token, apiOpts...),
		http:     o.httpClient,
		base:     base,
		log:      o.logger.With("notifier", NotifierName),
		channels: map[string]string{},
		groups:   map[string]string{},
		listing:  make(chan struct{}, 1),
		avoided:  map[string]avoidance{},
	}, nil
}

// Name implements activities.Notifier.
func (n *Notifier) Name() string { return NotifierName }

// Client is the underlying Slack client, for callers that need other methods.
func (n *Notifier) Client() *slackapi.Client { return n.api }

func metadata(inc *incident.Incident) slackapi.SlackMetadata {
	return slackapi.SlackMetadata{
		EventType: MetadataEventType,
		EventPayload: map[string]any{
			"incident_id": inc.ID,
			"fingerprint": inc.Fingerprint,
			// Tells a re-fire (same ID, new run) from the message of the earlier run.
			"opened_at": inc.OpenedAt.UTC().Format(time.RFC3339Nano),
		},
	}
}

// Post implements activities.Notifier: it posts to the routed channel with
// blocks, fallback text and metadata naming the incident. When the routed
// channel refuses the post for good (it does not exist, is archived, the bot
// is not in it), the incident goes to default_channel instead, with a thread
// reply saying why: an announcement in the wrong channel beats none.
func (n *Notifier) Post(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	routed := Channel(&n.cfg, inc)
	channel, refused := n.route(inc)
	ch, ts, err := n.postIncident(ctx, channel, inc)
	if err != nil && channel != n.cfg.DefaultChannel && unusable(err) {
		refused = err
		n.avoid(routed, refused)
		channel = n.cfg.DefaultChannel
		ch, ts, err = n.postIncident(ctx, channel, inc)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("slack chat.postMessage to %s: %w", channel, err))
	}
	n.remember(channel, ch)
	n.log.InfoContext(ctx, "posted incident", "incident", inc.ID, "channel", channel, "channel_id", ch, "ts", ts)
	if refused != nil {
		n.log.WarnContext(ctx, "cannot post to the routed channel; posted to default_channel",
			"incident", inc.ID, "channel", routed, "default_channel", channel, "err", refused)
		activities.Warn(ctx, "Slack: cannot post to %s (%s), the channel the routes pick; announced in %s instead. Fix: create the channel, invite the bot, or change slack.routes",
			routed, rootCause(refused), channel)
		// Said where people look: the incident's thread.
		note := fmt.Sprintf("⚠️ This incident is routed to %s, but irflow cannot post there (%s). Invite the bot there or fix `slack.routes`.",
			routed, rootCause(refused))
		if err := n.notice(ctx, ch, note, slackapi.MsgOptionTS(ts)); err != nil {
			n.log.WarnContext(ctx, "fallback note not posted", "incident", inc.ID, "err", err)
		}
	}
	return &incident.MessageRef{Notifier: NotifierName, Channel: ch, ID: ts}, nil
}

func (n *Notifier) postIncident(ctx context.Context, channel string, inc *incident.Incident) (string, string, error) {
	return n.api.PostMessageContext(ctx, channel,
		slackapi.MsgOptionText(FallbackText(inc), false),
		slackapi.MsgOptionBlocks(Blocks(&n.cfg, inc)...),
		slackapi.MsgOptionMetadata(metadata(inc)),
	)
}

// unusableCodes are chat.postMessage refusals that concern the channel, not
// the message or the token: another channel may take the post.
var unusableCodes = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "is_archived": true,
	"channel_is_archived": true, "restricted_action": true,
}

func unusable(err error) bool {
	var se slackapi.SlackErrorResponse
	return errors.As(err, &se) && unusableCodes[se.Err]
}

// route is the channel for inc: the routes' choice, unless a post there was
// refused lately (see Post); then default_channel and the refusal, so
// incidents go straight where they can, and a retry's Find looks where the
// post went.
func (n *Notifier) route(inc *incident.Incident) (string, error) {
	channel := Channel(&n.cfg, inc)
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.avoided[channel]; ok && time.Since(a.at) < relistAfter {
		return n.cfg.DefaultChannel, a.why
	}
	return channel, nil
}

type avoidance struct {
	at  time.Time
	why error
}

// avoid sends incidents routed to channel to default_channel for a while.
func (n *Notifier) avoid(channel string, why error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.avoided[channel] = avoidance{at: time.Now(), why: why}
}

// PostText posts a plain message (and optional blocks) to a channel, with the
// same error classification as Post; for digests and other one-off messages.
func (n *Notifier) PostText(ctx context.Context, channel, text string, blocks ...slackapi.Block) (*incident.MessageRef, error) {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(blocks...))
	}
	ch, ts, err := n.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return nil, classify(fmt.Errorf("slack chat.postMessage to %s: %w", channel, err))
	}
	n.remember(channel, ch)
	return &incident.MessageRef{Notifier: NotifierName, Channel: ch, ID: ts}, nil
}

// Find implements activities.Notifier: it reads the routed channel's history
// since shortly before the incident opened, looking for irflow's metadata.
//
// Find is a safety net for retried posts, never a gate: when it cannot look
// (the channel's ID is unknown, the bot may not read the channel) it logs,
// Warns for the incident's timeline, and returns nothing, so Post announces.
func (n *Notifier) Find(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	channel, _ := n.route(inc)
	id, why := n.channelID(ctx, channel)
	if id == "" {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n.cannotFind(ctx, inc, channel, why, fixListing)
		return nil, nil
	}
	params := url.Values{"channel": {id}, "limit": {strconv.Itoa(findPageSize)}, "include_all_metadata": {"true"}}
	since := inc.OpenedAt
	if since.IsZero() {
		since = inc.FirstSeen
	}
	if !since.IsZero() {
		params.Set("oldest", slackTS(since.Add(-findWindow)))
	}
	opened := inc.OpenedAt.UTC().Format(time.RFC3339Nano)
	for range findPages {
		resp, err := n.history(ctx, params)
		if err != nil {
			err = classify(fmt.Errorf("slack conversations.history of %s: %w", channel, err))
			var perm *activities.PermanentError
			if errors.As(err, &perm) && !authFailure(err) {
				// not_in_channel (chat:write.public posts where the bot cannot
				// read), missing_scope (no channels:history): nothing to find,
				// but the post may still go through.
				n.cannotFind(ctx, inc, channel, err, fixHistory)
				return nil, nil
			}
			// A rate limit or an outage passes: the next attempt looks again.
			return nil, err
		}
		for _, m := range resp.Messages {
			md := m.Metadata
			if md.EventType != MetadataEventType || md.EventPayload.IncidentID != inc.ID {
				continue
			}
			if md.EventPayload.OpenedAt != "" && md.EventPayload.OpenedAt != opened {
				continue
			}
			return &incident.MessageRef{Notifier: NotifierName, Channel: id, ID: m.TS}, nil
		}
		if !resp.HasMore || resp.ResponseMetadata.NextCursor == "" {
			break
		}
		params.Set("cursor", resp.ResponseMetadata.NextCursor)
	}
	return nil, nil
}

// historyPage is the part of a conversations.history answer Find reads.
// Decoding only this, not slack-go's full messages with their Block Kit
// blocks, keeps Find cheap in a busy channel: it runs before every first post.
type historyPage struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Messages []struct {
		TS       string `json:"ts"`
		Metadata struct {
			EventType    string `json:"event_type"`
			EventPayload struct {
				IncidentID string `json:"incident_id"`
				OpenedAt   string `json:"opened_at"`
			} `json:"event_payload"`
		} `json:"metadata"`
	} `json:"messages"`
	HasMore          bool `json:"has_more"`
	ResponseMetadata struct {
		NextCursor string `json:"next_cursor"`
	} `json:"response_metadata"`
}

// history calls conversations.history, returning slack-go's error types
// (RateLimitedError, StatusCodeError, SlackErrorResponse) so classify applies.
func (n *Notifier) history(ctx context.Context, params url.Values) (*historyPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+"conversations.history", strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+n.cfg.Token)
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, &slackapi.RateLimitedError{RetryAfter: time.Duration(after) * time.Second}
	case resp.StatusCode != http.StatusOK:
		return nil, slackapi.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	var page historyPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	if !page.OK {
		return nil, slackapi.SlackErrorResponse{Err: page.Error}
	}
	return &page, nil
}

// Update implements activities.Notifier: it replaces the message's blocks.
func (n *Notifier) Update(ctx context.Context, ref incident.MessageRef, inc *incident.Incident) error {
	_, _, _, err := n.api.UpdateMessageContext(ctx, ref.Channel, ref.ID,
		slackapi.MsgOptionText(FallbackText(inc), false),
		slackapi.MsgOptionBlocks(Blocks(&n.cfg, inc)...),
	)
	if err != nil {
		return classify(fmt.Errorf("slack chat.update %s/%s: %w", ref.Channel, ref.ID, err))
	}
	return nil
}

var kindEmoji = map[incident.EntryKind]string{
	incident.EntryOpened:       "🆕",
	incident.EntryOccurrence:   "🔁",
	incident.EntryEscalated:    "📣",
	incident.EntryAcknowledged: "✅",
	incident.EntrySnoozed:      "😴",
	incident.EntryUnsnoozed:    "⏰",
	incident.EntryRescan:       "🔎",
	incident.EntrySourceClear:  "🟢",
	incident.EntryResolved:     "✔️",
	incident.EntryArchived:     "🗄️",
	incident.EntryNotifyFailed: "⚠️",
	incident.EntryArchiveFail:  "⚠️",
}

// Event implements activities.Notifier: a reply in the message's thread. An
// escalation mentions the level's targets, is broadcast to the channel, and
// is also announced in the targets' channels and the escalation channel.
func (n *Notifier) Event(ctx context.Context, ref incident.MessageRef, inc *incident.Incident, ev activities.Event) error {
	text := strings.TrimSpace(kindEmoji[ev.Kind] + " " + escape(ev.Text))
	if ev.Actor != "" && ev.Actor != incident.SystemActor {
		text += " — " + actor(ev.Actor)
	}
	escalated := ev.Kind == incident.EntryEscalated && ev.Escalation != nil
	var mentions string
	if escalated {
		mentions = n.mentions(ctx, ev.Escalation.Targets)
		if mentions != "" {
			text = mentions + " " + text
		}
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(text, false), slackapi.MsgOptionTS(ref.ID)}
	if escalated {
		opts = append(opts, slackapi.MsgOptionBroadcast())
	}
	if _, _, err := n.api.PostMessageContext(ctx, ref.Channel, opts...); err != nil {
		return classify(fmt.Errorf("slack thread reply to %s/%s: %w", ref.Channel, ref.ID, err))
	}
	if escalated {
		n.announceEscalation(ctx, ref, inc, ev, mentions)
	}
	return nil
}

// announceEscalation posts a short notice linking to the incident in each
// target's channel and the escalation channel. A notice that cannot be
// posted is logged and Warned, never an error (see below).
func (n *Notifier) announceEscalation(ctx context.Context, ref incident.MessageRef, inc *incident.Incident, ev activities.Event, mentions string) {
	var targets []string
	seen := map[string]bool{ref.Channel: true, "#" + n.channelName(ref.Channel): true}
	for _, t := range ev.Escalation.Targets {
		targets = append(targets, t.Channel)
	}
	targets = append(targets, n.cfg.EscalationChannel)
	title := escape(Header(inc))
	if link, err := n.api.GetPermalinkContext(ctx, &slackapi.PermalinkParameters{Channel: ref.Channel, Ts: ref.ID}); err == nil {
		title = fmt.Sprintf("<%s|%s>", link, title)
	} else {
		n.log.WarnContext(ctx, "no permalink for escalation notice", "incident", inc.ID, "err", err)
	}
	text := strings.TrimSpace(fmt.Sprintf("📣 %s escalated (level %d): %s", mentions, ev.Level+1, title))
	for _, ch := range targets {
		key := ch
		if !config.IsChannelID(ch) {
			key = "#" + strings.TrimPrefix(ch, "#")
		}
		if ch == "" || seen[key] {
			continue
		}
		seen[key] = true
		// The mentions are out already: failing now would make the retry
		// post them again, paging everyone twice. A lost notice is told instead.
		if err := n.notice(ctx, ch, text); err != nil {
			n.log.WarnContext(ctx, "escalation notice not posted", "incident", inc.ID, "channel", ch, "err", err)
			activities.Warn(ctx, "Slack: escalation notice to %s not posted (%s); the escalation is in the incident's thread", ch, rootCause(err))
		}
	}
}

// notice posts a one-off text message, once: waiting out a rate limit here
// would hold the workflow task open (notify is a local activity), and a task
// held open through a storm is failed by Temporal and replayed.
func (n *Notifier) notice(ctx context.Context, channel, text string, opts ...slackapi.MsgOption) error {
	opts = append([]slackapi.MsgOption{slackapi.MsgOptionText(text, false)}, opts...)
	_, _, err := n.api.PostMessageContext(ctx, channel, opts...)
	return err
}

var (
	userGroupID = regexp.MustCompile(`^S[A-Z0-9]{6,}$`)
	userID      = regexp.MustCompile(`^[UW][A-Z0-9]{6,}$`)
)

// mentions renders targets as Slack mentions. User groups given by handle are
// looked up (usergroups:read); names that cannot be resolved stay plain text.
func (n *Notifier) mentions(ctx context.Context, targets []incident.Target) string {
	var parts []string
	for _, t := range targets {
		if g := strings.TrimPrefix(t.UserGroup, "@"); g != "" {
			if !userGroupID.MatchString(g) {
				if id, err := n.userGroupID(ctx, g); err == nil && id != "" {
					g = id
				} else {
					// A plain-text @name notifies nobody: say so where on-call looks.
					n.log.WarnContext(ctx, "user group not found; mentioning by name", "user_group", g, "err", err)
					why := "no such handle"
					if err != nil {
						why = rootCause(err)
					}
					activities.Warn(ctx, "Slack: user group @%s not found (%s), so it was named, not mentioned, and nobody in it was notified. Fix: use the group ID (S…) or grant usergroups:read", g, why)
				}
			}
			if userGroupID.MatchString(g) {
				parts = append(parts, "<!subteam^"+g+">")
			} else {
				parts = append(parts, "@"+escape(g))
			}
		}
		for _, u := range t.Users {
			u = strings.TrimPrefix(u, "@")
			if userID.MatchString(u) {
				parts = append(parts, "<@"+u+">")
			} else {
				parts = append(parts, "@"+escape(u))
			}
		}
	}
	return strings.Join(parts, " ")
}

func (n *Notifier) userGroupID(ctx context.Context, handle string) (string, error) {
	n.mu.Lock()
	id, ok := n.groups[handle]
	n.mu.Unlock()
	if ok {
		return id, nil
	}
	groups, err := n.api.GetUserGroupsContext(ctx)
	if err != nil {
		return "", fmt.Errorf("slack usergroups.list: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, g := range groups {
		n.groups[g.Handle] = g.ID
	}
	return n.groups[handle], nil
}

// cannotFind says, in the log and the incident's timeline, that the
// announcement goes out without the duplicate check, why, and what fixes it.
func (n *Notifier) cannotFind(ctx context.Context, inc *incident.Incident, channel string, why error, fix string) {
	n.log.WarnContext(ctx, "cannot look for an earlier announcement; posting anyway, a retried post may show twice",
		"incident", inc.ID, "channel", channel, "err", why, "fix", fix)
	activities.Warn(ctx, "Slack: could not check %s for an earlier announcement (%s), so it was posted without the duplicate check. Fix: %s",
		channel, rootCause(why), fix)
}

// What fixes each reason Find cannot look.
const (
	fixListing = "grant channels:read and groups:read, or route to the channel ID (C…) instead of its name"
	fixHistory = "invite the bot to the channel (/invite @irflow) and grant channels:history and groups:history"
)

// rootCause is the innermost message of err: the Slack error code, mostly.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// relistAfter is how long a listing that failed or lacked a channel stands
// before the next one: conversations.list is rate limited (Tier 2), and a
// token without channels:read will not gain it between two incidents.
const relistAfter = 5 * time.Minute

// channelID resolves a configured channel (ID, #name or name) to its ID,
// which conversations.history needs. Names are listed and cached; posts add
// what they learn (chat.postMessage answers with the ID). It returns "" and
// why when the ID is unknown: listing not allowed (missing_scope without
// channels:read or groups:read), failed, or without the channel (a private
// channel the token may post to but not list). Posting by name still works.
func (n *Notifier) channelID(ctx context.Context, channel string) (string, error) {
	if config.IsChannelID(channel) {
		return channel, nil
	}
	name := strings.TrimPrefix(channel, "#")
	if id, known, err := n.cachedChannelID(name); known {
		return id, err
	}
	// One listing at a time; whoever waited reads the answer it got.
	select {
	case n.listing <- struct{}{}:
		defer func() { <-n.listing }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if id, known, err := n.cachedChannelID(name); known {
		return id, err
	}
	params := &slackapi.GetConversationsParameters{
		ExcludeArchived: true, Limit: 1000, Types: []string{"public_channel", "private_channel"},
	}
	found := map[string]string{}
	var err error
	for {
		var chans []slackapi.Channel
		var cursor string
		chans, cursor, err = n.api.GetConversationsContext(ctx, params)
		if err != nil {
			err = fmt.Errorf("slack conversations.list: %w", err)
			break
		}
		for _, c := range chans {
			found[c.Name] = c.ID
		}
		if cursor == "" {
			break
		}
		params.Cursor = cursor
	}
	if ctx.Err() != nil {
		return "", ctx.Err() // the activity's deadline, not the listing's answer
	}
	n.mu.Lock()
	for k, v := range found {
		n.channels[k] = v
	}
	n.listedAt, n.listErr = time.Now(), err
	n.mu.Unlock()
	id, _, err := n.cachedChannelID(name)
	return id, err
}

// cachedChannelID answers from the cache and the last listing; known is
// false when a new listing is due.
func (n *Notifier) cachedChannelID(name string) (id string, known bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id, ok := n.channels[name]; ok {
		return id, true, nil
	}
	if n.listedAt.IsZero() || time.Since(n.listedAt) >= relistAfter {
		return "", false, nil
	}
	if n.listErr != nil {
		return "", true, n.listErr
	}
	return "", true, fmt.Errorf("#%s is not in conversations.list", name)
}

func (n *Notifier) remember(channel, id string) {
	if config.IsChannelID(channel) || id == "" {
		return
	}
	n.mu.Lock()
	n.channels[strings.TrimPrefix(channel, "#")] = id
	n.mu.Unlock()
}

func (n *Notifier) channelName(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, cid := range n.channels {
		if cid == id {
			return name
		}
	}
	return id
}

// permanentCodes are Slack errors retrying cannot fix.
var permanentCodes = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "invalid_auth": true,
	"account_inactive": true, "msg_too_long": true, "not_authed": true, "token_revoked": true,
	"token_expired": true, "missing_scope": true, "no_permission": true, "invalid_blocks": true,
	"invalid_blocks_format": true, "restricted_action": true, "cant_update_message": true,
	"message_not_found": true, "edit_window_closed": true, "team_access_not_granted": true,
	"ekm_access_denied": true, "invalid_metadata_format": true, "invalid_metadata_schema": true,
	"metadata_too_large": true, "too_many_attachments": true, "invalid_arguments": true,
	"no_text": true, "thread_not_found": true, "channel_is_archived": true,
	"invalid_auth_method": true, "org_login_required": true,
}

// authCodes are the permanent errors that concern the token, not one call:
// whatever Find cannot do, Post cannot either.
var authCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "token_revoked": true, "token_expired": true,
	"account_inactive": true, "invalid_auth_method": true, "org_login_required": true,
	"team_access_not_granted": true,
}

func authFailure(err error) bool {
	var se slackapi.SlackErrorResponse
	return errors.As(err, &se) && authCodes[se.Err]
}

// classify maps Slack errors to the activity's retry vocabulary: 429 waits
// for Retry-After, configuration and content errors fail permanently, the
// rest (network, 5xx) retry with backoff.
func classify(err error) error {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return &activities.RetryAfterError{Err: err, After: max(rl.RetryAfter, time.Second)}
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) && permanentCodes[se.Err] {
		return activities.Permanent(err)
	}
	return err
}

// slackTS formats t as a Slack timestamp ("1700000000.000000").
func slackTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/irflow/irflow/internal/config"
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
	channels map[string]string // channel name (no #) → ID
	groups   map[string]string // user group handle (no @) → ID
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
// blocks, fallback text and metadata naming the incident.
func (n *Notifier) Post(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	channel := Channel(&n.cfg, inc)
	ch, ts, err := n.api.PostMessageContext(ctx, channel,
		slackapi.MsgOptionText(FallbackText(inc), false),
		slackapi.MsgOptionBlocks(Blocks(&n.cfg, inc)...),
		slackapi.MsgOptionMetadata(metadata(inc)),
	)
	if err != nil {
		return nil, classify(fmt.Errorf("slack chat.postMessage to %s: %w", channel, err))
	}
	n.remember(channel, ch)
	n.log.InfoContext(ctx, "posted incident", "incident", inc.ID, "channel", channel, "channel_id", ch, "ts", ts)
	return &incident.MessageRef{Notifier: NotifierName, Channel: ch, ID: ts}, nil
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
func (n *Notifier) Find(ctx context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	channel := Channel(&n.cfg, inc)
	id, err := n.channelID(ctx, channel)
	if err != nil {
		return nil, err
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
			var se slackapi.SlackErrorResponse
			if errors.As(err, &se) && se.Err == "not_in_channel" {
				// chat:write.public can post where the bot cannot read; then
				// there is nothing to find, and the doc says to invite the bot.
				n.log.WarnContext(ctx, "cannot read channel history; invite the bot so retried posts are deduplicated",
					"channel", channel, "incident", inc.ID)
				return nil, nil
			}
			return nil, classify(fmt.Errorf("slack conversations.history of %s: %w", channel, err))
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
		return n.announceEscalation(ctx, ref, inc, ev, mentions)
	}
	return nil
}

func (n *Notifier) announceEscalation(ctx context.Context, ref incident.MessageRef, inc *incident.Incident, ev activities.Event, mentions string) error {
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
		if _, _, err := n.api.PostMessageContext(ctx, ch, slackapi.MsgOptionText(text, false)); err != nil {
			return classify(fmt.Errorf("slack escalation notice to %s: %w", ch, err))
		}
	}
	return nil
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
					n.log.WarnContext(ctx, "user group not found; mentioning by name", "user_group", g, "err", err)
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

// channelID resolves a configured channel (ID, #name or name) to its ID,
// which conversations.history needs; names are listed once and cached.
func (n *Notifier) channelID(ctx context.Context, channel string) (string, error) {
	if config.IsChannelID(channel) {
		return channel, nil
	}
	name := strings.TrimPrefix(channel, "#")
	n.mu.Lock()
	id, ok := n.channels[name]
	n.mu.Unlock()
	if ok {
		return id, nil
	}
	params := &slackapi.GetConversationsParameters{
		ExcludeArchived: true, Limit: 1000, Types: []string{"public_channel", "private_channel"},
	}
	found := map[string]string{}
	for {
		chans, cursor, err := n.api.GetConversationsContext(ctx, params)
		if err != nil {
			return "", classify(fmt.Errorf("slack conversations.list looking for %s: %w", channel, err))
		}
		for _, c := range chans {
			found[c.Name] = c.ID
		}
		if cursor == "" {
			break
		}
		params.Cursor = cursor
	}
	n.mu.Lock()
	for k, v := range found {
		n.channels[k] = v
	}
	n.mu.Unlock()
	if id, ok := found[name]; ok {
		return id, nil
	}
	return "", activities.Permanent(fmt.Errorf("slack channel %s: %w", channel,
		slackapi.SlackErrorResponse{Err: "channel_not_found"}))
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

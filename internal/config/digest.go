package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Zone data inside the binary, so time_zone is checked the same on
	// images without /usr/share/zoneinfo (distroless static).
	_ "time/tzdata"

	"github.com/irflow/irflow/incident"
)

// Digest is the `digest:` section: the daily digest's Schedule and channel
// (docs/digest.md). `starter schedules apply --config` and `starter dev`
// create the Schedule irflow-digest from it.
type Digest struct {
	// Enabled creates the daily Schedule. Off by default: the channel must
	// exist and have the bot in it before the first digest is posted.
	Enabled bool `yaml:"enabled"`
	// At is the time of day (HH:MM, 24-hour) in TimeZone the digest runs.
	At string `yaml:"at"`
	// TimeZone is an IANA zone like Europe/Berlin; Temporal follows its
	// daylight saving time.
	TimeZone string `yaml:"time_zone"`
	// Channel is where the digest is posted.
	Channel string `yaml:"channel"`
	// Since is the window each digest covers, ending when it runs.
	Since Duration `yaml:"since"`
}

// MaxDigestSince bounds digest.since: the archive is read one day at a time.
const MaxDigestSince = 31 * 24 * time.Hour

// SetDefaults fills the zero values.
func (c *Digest) SetDefaults() {
	if c.At == "" {
		c.At = "08:00"
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.Channel == "" {
		c.Channel = "#security-digest"
	}
	if c.Since == 0 {
		c.Since = Duration(24 * time.Hour)
	}
}

// Validate checks the section, naming the field. It checks a disabled
// section too, so turning it on later brings no surprise.
func (c *Digest) Validate() error {
	if _, _, err := c.Clock(); err != nil {
		return err
	}
	if _, err := c.Location(); err != nil {
		return err
	}
	switch {
	case c.Channel == "":
		return fmt.Errorf("digest.channel: required")
	case !incident.ValidChannel(c.Channel):
		return fmt.Errorf("digest.channel: %q is not a Slack channel name (#lowercase-name) or ID", c.Channel)
	}
	if s := time.Duration(c.Since); s <= 0 || s > MaxDigestSince {
		return fmt.Errorf("digest.since: must be between 1s and %s (31 days), got %s", MaxDigestSince, s)
	}
	return nil
}

// Clock is digest.at as hour and minute.
func (c *Digest) Clock() (hour, minute int, err error) {
	bad := fmt.Errorf("digest.at: %q is not HH:MM (24-hour, like 08:00)", c.At)
	h, m, ok := strings.Cut(c.At, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, 0, bad
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || h[0] == '+' || h[0] == '-' || m[0] == '+' || m[0] == '-' ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return 0, 0, bad
	}
	return hour, minute, nil
}

// Location is digest.time_zone loaded.
func (c *Digest) Location() (*time.Location, error) {
	// LoadLocation also takes "" and "Local"; neither names a zone
	// Temporal's server would read the same way.
	if c.TimeZone == "" || c.TimeZone == "Local" {
		return nil, fmt.Errorf("digest.time_zone: unknown time zone %q", c.TimeZone)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("digest.time_zone: unknown time zone %q", c.TimeZone)
	}
	return loc, nil
}

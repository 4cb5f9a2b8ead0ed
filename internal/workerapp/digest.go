package workerapp

import (
	"io"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/client"
)

// digest builds the daily digest's activities: incidents from Temporal
// through the incident client, records from the archive store, the digest
// posted by the notifier (Slack, or the console in dev).
func (m *Main) digest(ic *client.Client, store activities.Store, notifier activities.Notifier) *activities.Digest {
	d := &activities.Digest{Incidents: ic.IncidentsSince, Store: store, Channel: m.Config.Digest.Channel}
	// Both stores read; another one (a test's) leaves the digest to Temporal's records.
	if r, ok := store.(activities.ArchiveReader); ok {
		d.Archive = r
	}
	if p, ok := notifier.(activities.Poster); ok {
		d.Poster = p
	} else {
		// A notifier that cannot post digests (a test's recorder) prints them.
		out := m.Console
		if out == nil {
			out = io.Discard
		}
		d.Poster = activities.NewConsole(out)
	}
	return d
}

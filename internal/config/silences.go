package config

// Silences holds the recurring maintenance windows (one-off silences live in
// the silences workflow, added with `starter silence add`).
type Silences struct{}

// Validate checks the section, naming the field.
func (c *Silences) Validate() error { return nil }

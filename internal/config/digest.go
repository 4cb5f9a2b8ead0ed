package config

// Digest configures the daily digest.
type Digest struct{}

// Validate checks the section, naming the field.
func (c *Digest) Validate() error { return nil }

// SetDefaults fills the zero values.
func (c *Digest) SetDefaults() {}

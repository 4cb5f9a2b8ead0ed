package config

// Correlation configures the cross-incident correlator.
type Correlation struct{}

// Validate checks the section, naming the field.
func (c *Correlation) Validate() error { return nil }

// SetDefaults fills the zero values.
func (c *Correlation) SetDefaults() {}

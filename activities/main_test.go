package activities_test

import (
	"testing"

	"github.com/irflow/irflow/internal/testenv"
)

// TestMain stops the dev server the Temporal-backed tests start.
func TestMain(m *testing.M) { testenv.Run(m) }

package schedules_test

import (
	"testing"

	"github.com/irflow/irflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Run(m) }

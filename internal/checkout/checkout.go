// Package checkout finds things in a source checkout of irflow: the module
// root, and below it bin/, deploy/ and the OpenSearch launcher. Only dev
// tooling, tests and the bench use it; a deployed binary never has a checkout.
package checkout

import (
	"errors"
	"os"
	"path/filepath"
)

// Root walks up from the working directory to the directory holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

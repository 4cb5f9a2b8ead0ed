// Package yamlerr reads where a goccy/go-yaml error points, for the rule
// loaders (ElastAlert2 and Sigma) that report file:line errors.
package yamlerr

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

var pos = regexp.MustCompile(`^\[(\d+):\d+\]\s*`)

// Problem is the first line of go-yaml's error, without source context.
func Problem(err error) string {
	return strings.TrimSpace(strings.SplitN(yaml.FormatError(err, false, false), "\n", 2)[0])
}

// Locate splits go-yaml's "[line:col] problem" into the line (1 when the
// error names none) and the problem.
func Locate(err error) (line int, problem string) {
	problem = Problem(err)
	line = 1
	if m := pos.FindStringSubmatch(problem); m != nil {
		fmt.Sscan(m[1], &line)
		problem = problem[len(m[0]):]
	}
	return line, problem
}

// Command starter is irflow's operator CLI: `dev` runs the whole system locally,
// `serve` runs the HTTP ingress, and the rest talk to Temporal to send alerts
// and work incidents.
package main

import (
	"fmt"
	"os"

	"github.com/irflow/irflow/incident"
)

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		// People get the message, never a stack trace; internals stay in logs.
		msg := err.Error()
		if code := incident.ErrorCode(err); code != incident.EINTERNAL {
			msg = incident.ErrorMessage(err)
		}
		fmt.Fprintln(os.Stderr, "error:", msg)
		os.Exit(1)
	}
}

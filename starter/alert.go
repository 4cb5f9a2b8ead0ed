package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

func newAlertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "Send alerts to irflow"}
	var file string
	var asJSON bool
	send := &cobra.Command{
		Use:   "send --file ALERT.json",
		Short: "Send one alert (or an array) straight to Temporal; prints the incident ID and whether it is new",
		Long: `Send reads irflow alert JSON (see docs/alerts.md) and delivers each alert to its
incident with SignalWithStart: a new incident opens, a duplicate becomes an occurrence.

  bin/starter alert send --file docs/examples/alert.json
  echo '{"source":"manual","rule":"disk full","env":"prod"}' | bin/starter alert send --file -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fail("--file: required (a path, or - for stdin)")
			}
			var r io.Reader = os.Stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return fail("--file: %v", err)
				}
				defer f.Close()
				r = f
			}
			body, err := io.ReadAll(r)
			if err != nil {
				return fail("--file: %v", err)
			}
			alerts, _, _, err := incident.DecodeAlerts(body, incident.DecodeOptions{})
			if err != nil {
				return err
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			out := cmd.OutOrStdout()
			for _, a := range alerts {
				now := time.Now().UTC()
				if a.Time.IsZero() {
					a.Time = now
				}
				res, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: a, FirstSeen: a.Time, LastSeen: a.Time})
				if err != nil {
					return err
				}
				if asJSON {
					if err := json.NewEncoder(out).Encode(res); err != nil {
						return err
					}
					continue
				}
				state := "joined existing incident"
				if res.New {
					state = "new incident"
				}
				fmt.Fprintf(out, "%s\t%s\n", res.IncidentID, state)
			}
			return nil
		},
	}
	send.Flags().StringVarP(&file, "file", "f", "", "alert JSON file, or - for stdin")
	send.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(send)
	return cmd
}

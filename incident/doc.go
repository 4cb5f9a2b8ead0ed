// Package incident holds irflow's domain: alerts, incidents, severities, statuses,
// fingerprints, escalation policies, timelines and the MTTA/MTTR arithmetic.
//
// It is pure Go: no I/O, no Temporal imports. Workflows, ingress and the CLI all
// speak these types.
package incident

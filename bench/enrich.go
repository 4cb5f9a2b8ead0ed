// Enrichment lookups on one core: threat-intel longest-prefix matches over a
// 100k-CIDR list and GeoIP lookups in a 100k-network MMDB, against an exact
// map lookup of the same addresses measured in the same run.

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/workflows"
)

const (
	enrichCIDRs   = 100_000
	enrichLookups = 2_000_000
)

// enrichAddr is the i-th address of the bench: every 4th inside a listed /24.
func enrichAddr(i int) netip.Addr {
	n := uint32(i*2654435761) % (enrichCIDRs * 4)
	return netip.AddrFrom4([4]byte{byte(10 + n>>16), byte(n >> 8), byte(n), byte(i)})
}

// enrichCIDR is the i-th listed network: every 4th /24 from 10.0.0.0.
func enrichCIDR(i int) netip.Prefix {
	n := uint32(i) * 4
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(10 + n>>16), byte(n >> 8), byte(n), 0}), 24)
}

func benchEnrich(*env) (map[string]any, error) {
	runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(0)
	dir, err := os.MkdirTemp("", "irflow-bench-enrich-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	progress("writing a %d-CIDR threat list and a %d-network GeoIP database", enrichCIDRs, enrichCIDRs)
	var list strings.Builder
	list.WriteString("indicator,tags,source\n")
	entries := make([]demologs.GeoIPEntry, 0, enrichCIDRs)
	exact := make(map[netip.Addr]bool, enrichCIDRs)
	for i := range enrichCIDRs {
		p := enrichCIDR(i)
		fmt.Fprintf(&list, "%s,scanner,bench\n", p)
		exact[p.Addr()] = true
		entries = append(entries, demologs.GeoIPEntry{IP: p.String(), CountryISO: "NL", ASN: 64510, ASOrg: "Bench"})
	}
	listPath, dbPath := filepath.Join(dir, "intel.csv"), filepath.Join(dir, "geoip.mmdb")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		return nil, err
	}
	if err := demologs.WriteGeoIP(dbPath, entries); err != nil {
		return nil, err
	}
	began := time.Now()
	e, err := enrich.New(config.Enrich{GeoIPDB: dbPath, ThreatIntel: []string{listPath}}, nil)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	loadTime := time.Since(began)

	addrs := make([]netip.Addr, 1<<16)
	for i := range addrs {
		addrs[i] = enrichAddr(i)
	}
	measure := func(f func(a netip.Addr) bool) (perSec float64, hits int) {
		start := time.Now()
		for i := range enrichLookups {
			if f(addrs[i&(len(addrs)-1)]) {
				hits++
			}
		}
		return enrichLookups / time.Since(start).Seconds(), hits
	}
	progress("measuring lookups on one core")
	baseline, _ := measure(func(a netip.Addr) bool { return exact[netip.AddrFrom4([4]byte{a.As4()[0], a.As4()[1], a.As4()[2], 0})] })
	intel, intelHits := measure(func(a netip.Addr) bool { _, ok := e.Intel.LookupIP(a); return ok })
	geo, geoHits := measure(func(a netip.Addr) bool { _, ok, _ := e.GeoIP.Lookup(a); return ok })
	// One whole Enrich call (owner, GeoIP and threat intel for two IPs).
	alert := incident.Alert{Source: "rules", Rule: "waf", Fields: map[string]any{"httpRequest": map[string]any{"clientIp": addrs[1].String()}, "source_ip": addrs[2].String()}}
	const calls = 200_000
	start := time.Now()
	for range calls {
		if _, err := e.Enrich(context.Background(), enrich.EnrichInput{Alert: alert}); err != nil {
			return nil, err
		}
	}
	enrichRate := calls / time.Since(start).Seconds()
	return map[string]any{
		"what":                          "lookups on one core (GOMAXPROCS=1): threat-intel longest-prefix match over a 100k-CIDR list (bart) and GeoIP in a 100k-network MMDB (maxminddb-golang/v2), against an exact Go map lookup of each address's /24 in the same run",
		"cidrs":                         enrichCIDRs,
		"load_seconds":                  round2(loadTime.Seconds()),
		"baseline_map_lookups_per_s":    round2(baseline),
		"threat_intel_lookups_per_s":    round2(intel),
		"threat_intel_ratio_to_map":     round2(intel / baseline),
		"threat_intel_hit_fraction":     round2(float64(intelHits) / enrichLookups),
		"geoip_lookups_per_s":           round2(geo),
		"geoip_ratio_to_map":            round2(geo / baseline),
		"geoip_hit_fraction":            round2(float64(geoHits) / enrichLookups),
		"enrich_calls_per_s_two_ips":    round2(enrichRate),
		"enrich_call_ratio_to_map_look": round2(enrichRate / baseline),
	}, nil
}

// benchContextLatency is alert → first announcement with the incident's
// context (enrichment + CloudWatch correlation against moto) on, against the
// same with it off, in interleaved rounds on one dev server. Context is asked
// for after the announcement, so the ratio should stay near 1 (target ≤ 1.5).
func benchContextLatency(e *env) (map[string]any, error) {
	bin, err := devstack.FindMoto()
	if err != nil {
		return nil, fmt.Errorf("context latency needs moto (make venv): %w", err)
	}
	moto, err := devstack.StartMoto(e.ctx, bin, 0, nil)
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	dir := filepath.Join(e.home, "context")
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
		return nil, err
	}
	if err := demologs.WriteThreatIntel(list); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": demologs.DemoRegion} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	withContext := e.benchCfg
	withContext.Enrich = config.Enrich{GeoIPDB: db, ThreatIntel: []string{list}}
	withContext.Enrich.SetDefaults()
	withContext.CloudWatch = config.CloudWatch{Enabled: true, Region: demologs.DemoRegion, Endpoint: moto.URL, Metrics: demologs.DemoMetricRules()}
	withContext.CloudWatch.SetDefaults()
	defer e.restoreWorker()
	measure := func(tag string, n int) ([]time.Duration, error) {
		var out []time.Duration
		for i := range n {
			a := incident.Alert{Source: "bench", Rule: fmt.Sprintf("context %s %s %d", e.runID, tag, i), Env: "bench", Category: "waf",
				QueryKey: map[string]string{"client_ip": "203.0.113.200"}}
			id := workflows.IncidentWorkflowID(incident.Fingerprint(a))
			ch := e.arr.wait(id)
			t0 := time.Now()
			if _, err := e.ic.Send(e.ctx, workflows.Occurrence{Count: 1, Alert: a}); err != nil {
				return nil, err
			}
			select {
			case t1 := <-ch:
				out = append(out, t1.Sub(t0))
			case <-time.After(30 * time.Second):
				return nil, fmt.Errorf("alert %s never announced", id)
			}
		}
		return out, nil
	}
	var off, on []time.Duration
	for round := range 3 {
		progress("context latency round %d: 40 alerts with context off, 40 with it on", round+1)
		if err := e.useWorker(e.benchCfg, notifier{e.arr}); err != nil {
			return nil, err
		}
		d, err := measure(fmt.Sprintf("off%d", round), 40)
		if err != nil {
			return nil, err
		}
		off = append(off, d...)
		if err := e.useWorker(withContext, notifier{e.arr}); err != nil {
			return nil, err
		}
		d, err = measure(fmt.Sprintf("on%d", round), 40)
		if err != nil {
			return nil, err
		}
		on = append(on, d...)
	}
	fOff, fOn := summarize(off), summarize(on)
	return map[string]any{
		"what":         "alert → first announcement (client.Send to the notifier's Post), 3 interleaved rounds of 40 WAF alerts with a listed attacker IP: context off vs enrichment (demo GeoIP + threat list) and CloudWatch correlation (moto, 4 demo metrics) on",
		"off":          fOff,
		"on":           fOn,
		"p50_ratio":    round2(fOn.P50ms / fOff.P50ms),
		"target_ratio": 1.5,
	}, nil
}

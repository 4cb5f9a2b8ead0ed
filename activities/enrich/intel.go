package enrich

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/irflow/irflow/incident"
)

// entry is what one list line says about an indicator.
type entry struct {
	match  string // the list's own spelling: a CIDR, an IP or a domain
	tags   []string
	source string
}

// intelSet is one immutable load of every list: IPs and CIDRs in a
// longest-prefix-match table, domains by name.
type intelSet struct {
	ips     *bart.Table[entry]
	domains map[string]entry
	size    int
}

// Intel holds the threat-intel lists and reloads them when their files
// change. Lookups read an immutable set, so a reload never blocks them.
type Intel struct {
	paths []string
	log   *slog.Logger

	// set is read without a lock: lookups on every core must not contend
	// on one; mu orders reloads.
	set    atomic.Pointer[intelSet]
	mu     sync.Mutex
	stamps map[string]time.Time
}

// LoadIntel reads every list; any bad line is an error naming file and line.
func LoadIntel(paths []string, log *slog.Logger) (*Intel, error) {
	if log == nil {
		log = slog.Default()
	}
	in := &Intel{paths: paths, log: log}
	set, stamps, err := loadLists(paths)
	if err != nil {
		return nil, err
	}
	in.set.Store(set)
	in.stamps = stamps
	return in, nil
}

// Size is the number of indicators loaded.
func (in *Intel) Size() int { return in.set.Load().size }

// Reload re-reads the lists if any file changed since the last load. A
// list that fails to parse keeps the previous set in force (and says why).
func (in *Intel) Reload() (changed bool, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	stale := false
	for _, p := range in.paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.ModTime().Equal(in.stamps[p]) {
			stale = true
			break
		}
	}
	if !stale {
		return false, nil
	}
	set, stamps, err := loadLists(in.paths)
	if err != nil {
		return false, err
	}
	in.set.Store(set)
	in.stamps = stamps
	return true, nil
}

// Watch reloads every interval until ctx ends, logging what happened.
func (in *Intel) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := in.Reload()
			switch {
			case err != nil:
				in.log.Error("threat intel reload failed; keeping the lists loaded before", "error", err)
			case changed:
				in.log.Info("threat intel reloaded", "indicators", in.Size())
			}
		}
	}
}

// LookupIP returns the most specific list entry containing ip.
func (in *Intel) LookupIP(ip netip.Addr) (incident.ThreatHit, bool) { return in.lookupIP(ip, "") }

// lookupIP is LookupIP with the IP as the record wrote it (see ipString).
func (in *Intel) lookupIP(ip netip.Addr, text string) (incident.ThreatHit, bool) {
	e, ok := in.set.Load().ips.Lookup(ip.Unmap())
	if !ok {
		return incident.ThreatHit{}, false
	}
	return incident.ThreatHit{Indicator: ipString(ip, text), Match: e.match, Tags: e.tags, Source: e.source}, true
}

// LookupDomain matches the domain or its nearest listed parent
// ("a.evil.example" matches a list entry "evil.example").
func (in *Intel) LookupDomain(domain string) (incident.ThreatHit, bool) {
	set := in.set.Load()
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	for name := d; name != ""; {
		if e, ok := set.domains[name]; ok {
			return incident.ThreatHit{Indicator: d, Match: e.match, Tags: e.tags, Source: e.source}, true
		}
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			break
		}
		name = rest
	}
	return incident.ThreatHit{}, false
}

func loadLists(paths []string) (*intelSet, map[string]time.Time, error) {
	set := &intelSet{ips: new(bart.Table[entry]), domains: map[string]entry{}}
	stamps := map[string]time.Time{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("threat intel %s: %w", p, err)
		}
		fi, err := f.Stat()
		if err == nil {
			stamps[p] = fi.ModTime()
		}
		err = readList(f, p, set)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return set, stamps, nil
}

// readList reads one file: CSV when its first line is the header
// indicator,tags,source (tags separated by ; or |), plain lines otherwise
// (# starts a comment; the source is the file name).
func readList(r io.Reader, path string, set *intelSet) error {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	br := bufio.NewReader(r)
	first, _ := br.Peek(64)
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(string(first))), "indicator,") {
		return readCSV(br, path, base, set)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := add(set, line, entry{source: base}); err != nil {
			return fmt.Errorf("threat intel %s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("threat intel %s: %w", path, err)
	}
	return nil
}

func readCSV(r io.Reader, path, base string, set *intelSet) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("threat intel %s:1: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, want := range []string{"indicator", "tags", "source"} {
		if _, ok := col[want]; !ok {
			return fmt.Errorf("threat intel %s:1: header lacks %q (want indicator,tags,source)", path, want)
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return fmt.Errorf("threat intel %s:%d: %w", path, line, err)
		}
		get := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		e := entry{source: get("source")}
		if e.source == "" {
			e.source = base
		}
		for _, t := range strings.FieldsFunc(get("tags"), func(r rune) bool { return r == ';' || r == '|' }) {
			if t = strings.TrimSpace(t); t != "" {
				e.tags = append(e.tags, t)
			}
		}
		if err := add(set, get("indicator"), e); err != nil {
			return fmt.Errorf("threat intel %s:%d: %w", path, line, err)
		}
	}
}

// add files one indicator: a CIDR, an IP (a /32 or /128) or a domain.
func add(set *intelSet, indicator string, e entry) error {
	e.match = indicator
	switch {
	case indicator == "":
		return fmt.Errorf("empty indicator")
	case strings.Contains(indicator, "/"):
		p, err := netip.ParsePrefix(indicator)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR: %v", indicator, err)
		}
		set.ips.Insert(p.Masked(), e)
	default:
		if ip, err := netip.ParseAddr(indicator); err == nil {
			ip = ip.Unmap()
			set.ips.Insert(netip.PrefixFrom(ip, ip.BitLen()), e)
			break
		}
		d := strings.TrimSuffix(strings.ToLower(indicator), ".")
		if !validDomain(d) {
			return fmt.Errorf("%q is not an IP, CIDR or domain", indicator)
		}
		e.match = d
		set.domains[d] = e
	}
	set.size++
	return nil
}

func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

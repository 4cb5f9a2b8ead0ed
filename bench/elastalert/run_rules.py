"""Run ElastAlert2 rules over fixed time ranges, one rule file at a time, and
print one JSON object on stdout: per rule name, the matches (@timestamp and
query_key value), the hits ElastAlert2 read, the runs and the seconds
run_rule took, or the error that kept the rule from loading.

--plan is a JSON list of {"rule": file, "start": RFC 3339, "end": RFC 3339,
"step_seconds": N}. Each entry gets its own ElastAlerter (--rule file --start
start --end end --debug), so a new_term rule loads its known terms from
terms_window_size before its own start, as `elastalert --start` does.

--mode live: consecutive run_rule(rule, t) calls at t = start + N, start + 2N,
... up to end, with ElastAlert2's clock (ts_now) set to t: what a live
ElastAlert2 with run_every N computes, windows (set_starttime: buffer_time,
previous_endtime) and realert silences included.
--mode once: one run_rule(rule, end, start) on the real clock, as
`elastalert --start T --end T --debug` does (realert counts from the wall
clock, so a key alerts at most once per realert over the whole range).

The irflow rules bench (bench/rules_elastalert.go) runs it from .venv
(`make venv`) against the same OpenSearch node as irflow's own sweeps and
compares the matches. Debug mode: nothing is sent and nothing is written
back; the alert step is replaced by a recorder.
"""
import argparse
import datetime
import json
import logging
import sys
import time

import elastalert.elastalert as ea_module
import elastalert.ruletypes as ruletypes_module
import elastalert.util as util_module
from elastalert.elastalert import ElastAlerter
from elastalert.util import lookup_es_key, ts_to_dt

# The simulated clock of --mode live; None means the real clock.
NOW = [None]
_real_ts_now = util_module.ts_now


def _clock():
    return NOW[0] if NOW[0] is not None else _real_ts_now()


# ElastAlert2 imports ts_now by name into each module.
for _m in (ea_module, ruletypes_module, util_module):
    _m.ts_now = _clock


def iso(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    return str(v)


def run_one(config, entry, mode):
    NOW[0] = None
    start, end = ts_to_dt(entry["start"]), ts_to_dt(entry["end"])
    if mode == "live":
        # The rule's known terms (new_term) and first window are taken at start.
        NOW[0] = start
    ea = ElastAlerter(["--config", config, "--debug", "--rule", entry["rule"],
                       "--start", entry["start"], "--end", entry["end"]])
    captured = []

    def record(matches, rule, alert_time=None, retried=False):
        for m in matches:
            key = ea.get_query_key_value(rule, m)
            captured.append({
                "@timestamp": iso(lookup_es_key(m, rule["timestamp_field"])),
                "key": "" if key is None else str(key),
            })

    ea.alert = record
    rule = ea.rules[0]
    began = time.perf_counter()
    hits, runs = 0, 0
    if mode == "live":
        step = datetime.timedelta(seconds=entry["step_seconds"])
        t = start
        while t < end:
            t = min(t + step, end)
            NOW[0] = t
            ea.run_rule(rule, t)
            hits += ea.thread_data.cumulative_hits
            runs += 1
    else:
        ea.run_rule(rule, end, start)
        hits += ea.thread_data.cumulative_hits
        runs += 1
    NOW[0] = None
    return rule["name"], {
        "seconds": time.perf_counter() - began,
        "runs": runs,
        "hits": hits,
        "matches": captured,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--mode", choices=["live", "once"], default="live")
    a = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    with open(a.plan) as f:
        plan = json.load(f)
    out = {}
    for entry in plan:
        try:
            name, res = run_one(a.config, entry, a.mode)
        except BaseException as e:  # noqa: BLE001 - a rule ElastAlert2 refuses is a result
            if isinstance(e, KeyboardInterrupt):
                raise
            name, res = entry["name"], {"error": "%s: %s" % (type(e).__name__, e)}
        out[name] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

"""Run every ElastAlert2 rule in a config's rules_folder once over a fixed
time range, the way `elastalert --start T --end T --debug` does, and print
one JSON object on stdout: per rule name, the matches (@timestamp and
query_key value), the hits ElastAlert2 read and the seconds run_rule took.

With --step-seconds it runs consecutive windows instead, as a live
ElastAlert2 with that run_every would (rule state carries between runs).

The irflow rules bench (bench/rules_elastalert.go) runs it from .venv
(`make venv`) against the same OpenSearch node as irflow's own sweep, and
compares the matches. Debug mode: nothing is sent and nothing is written
back; the alert step is replaced by a recorder.
"""
import argparse
import datetime
import json
import logging
import sys
import time

from elastalert.elastalert import ElastAlerter
from elastalert.util import lookup_es_key, ts_to_dt


def iso(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    return str(v)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--step-seconds", type=int, default=0,
                   help="0: one run_rule over the whole range (elastalert --start/--end); "
                        "N: consecutive runs of N seconds, as a live ElastAlert2 with run_every N")
    a = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

    ea = ElastAlerter(["--config", a.config, "--debug", "--start", a.start, "--end", a.end])
    captured = {}

    def record(matches, rule, alert_time=None, retried=False):
        for m in matches:
            key = ea.get_query_key_value(rule, m)
            captured.setdefault(rule["name"], []).append({
                "@timestamp": iso(lookup_es_key(m, rule["timestamp_field"])),
                "key": "" if key is None else str(key),
            })

    ea.alert = record
    start, end = ts_to_dt(a.start), ts_to_dt(a.end)
    out = {}
    for rule in ea.rules:
        began = time.perf_counter()
        hits, runs = 0, 0
        step = datetime.timedelta(seconds=a.step_seconds) if a.step_seconds > 0 else end - start
        t = start
        while t < end:
            ea.run_rule(rule, min(t + step, end), t)
            hits += ea.thread_data.cumulative_hits
            runs += 1
            t += step
        out[rule["name"]] = {
            "seconds": time.perf_counter() - began,
            "runs": runs,
            "hits": hits,
            "matches": captured.get(rule["name"], []),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

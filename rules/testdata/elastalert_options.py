"""Runs ElastAlert2's own rule classes over the cases rules/options_test.go
sends on stdin and prints their matches as JSON, so the Go table tests check
their hard-coded expectations against ElastAlert2 itself.

Input: {"cases": [{"name": ..., "type": "spike"|"change"|"blacklist"|
"whitelist"|"flatline"|"realert", "rule": {...}, "runs": [{"end": ISO,
"events": [...]}], "times": [ISO, ...]}]}. Durations in "rule" are seconds.
Output: {name: [match, ...]}; for "realert", the times that were not silenced.
"""
import datetime
import json
import sys
import types

from elastalert import ruletypes
from elastalert.elastalert import ElastAlerter
from elastalert.util import ts_to_dt

TYPES = {
    "spike": ruletypes.SpikeRule,
    "change": ruletypes.ChangeRule,
    "blacklist": ruletypes.BlacklistRule,
    "whitelist": ruletypes.WhitelistRule,
    "flatline": ruletypes.FlatlineRule,
}
DURATIONS = ("timeframe", "realert", "exponential_realert")


def rule_dict(case):
    rule = {"name": case["name"], "timestamp_field": "@timestamp"}
    for k, v in case["rule"].items():
        rule[k] = datetime.timedelta(seconds=v) if k in DURATIONS else v
    return rule


def run_rule(case):
    rule = rule_dict(case)
    if case["type"] == "change":
        # ChangeRule keeps these at class level; start each case clean.
        ruletypes.ChangeRule.change_map = {}
        ruletypes.ChangeRule.occurrence_time = {}
    rt = TYPES[case["type"]](rule)
    for run in case["runs"]:
        events = []
        for e in run["events"]:
            e = dict(e)
            e["@timestamp"] = ts_to_dt(e["@timestamp"])
            events.append(e)
        events.sort(key=lambda e: e["@timestamp"])
        if events:
            rt.add_data(events)
        rt.garbage_collect(ts_to_dt(run["end"]))
    return rt.matches


def run_realert(case):
    rule = rule_dict(case)
    fake = types.SimpleNamespace(silence_cache={})
    out = []
    for t in case["times"]:
        now = ts_to_dt(t)
        cached = fake.silence_cache.get("k")
        if cached and now < cached[0]:
            continue
        until, exponent = ElastAlerter.next_alert_time(fake, rule, "k", now)
        fake.silence_cache["k"] = (until, exponent)
        out.append({"@timestamp": t, "until": until.isoformat(), "exponent": exponent})
    return out


def main():
    cases = json.load(sys.stdin)["cases"]
    out = {}
    for case in cases:
        fn = run_realert if case["type"] == "realert" else run_rule
        out[case["name"]] = fn(case)
    json.dump(out, sys.stdout, default=str, sort_keys=True)


if __name__ == "__main__":
    main()

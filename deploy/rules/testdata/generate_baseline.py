#!/usr/bin/env python3
"""Writes the testdata of the baseline rules (types anomaly and rare):
rare-user-per-source-ip, be-5xx-rate-unusual-per-namespace and
waf-blocks-unusual-per-country. Deterministic; counts are chosen against
each rule's threshold and min_baseline_buckets. Run from anywhere:
    python3 deploy/rules/testdata/generate_baseline.py && go test ./deploy/rules/
"""
import json, datetime, os
OUT = os.path.dirname(os.path.abspath(__file__))
UTC = datetime.timezone.utc
T = datetime.datetime(2026, 11, 16, 0, 0, 0, tzinfo=UTC)  # a Monday


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def write(name, kind, events):
    events.sort(key=lambda e: e["@timestamp"])
    with open(os.path.join(OUT, "%s.%s.ndjson" % (name, kind)), "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def be(t, ns, status, **extra):
    e = {"@timestamp": ts(t), "kubernetes": {"namespace_name": ns}, "status": status,
         "request": {"path": "/api/v1/orders", "method": "GET"}, "client_ip": "198.51.100.7",
         "log": {"level": "ERROR" if status >= 500 else "INFO"}, "message": "GET /api/v1/orders %d" % status}
    e.update(extra)
    return e


# be-5xx-rate-unusual-per-namespace: 30-minute buckets, hour_of_day
# seasonality, 6 baseline buckets a slot (3 days). Three days and a half of
# 5xx on two namespaces: 2 a bucket in the day (08-20 UTC), 1 at night, and
# a nightly batch window (02:00-03:00) of 6 a bucket that is seasonal. The
# fires file adds 30 errors in one night bucket of the fourth day.
def fivexx(fire):
    out = []
    for b in range(int(3.5 * 48)):
        start = T + datetime.timedelta(minutes=30 * b)
        for ns in ("orders", "catalog"):
            n = 2 if 8 <= start.hour < 20 else 1
            if ns == "orders" and start.hour == 2:
                n = 6
            if fire and ns == "orders" and b == 3 * 48 + 10:  # the fourth day, 05:00
                n = 30
            for i in range(n):
                out.append(be(start + datetime.timedelta(seconds=60 + 29 * 60 * i // max(n, 1)), ns, 503))
        # 2xx traffic is filtered out by the rule
        out.append(be(start + datetime.timedelta(minutes=10), "orders", 200))
    return out


write("be-5xx-rate-unusual-per-namespace", "fires", fivexx(True))
write("be-5xx-rate-unusual-per-namespace", "quiet", fivexx(False))


# waf-blocks-unusual-per-country: 30-minute buckets, ewma, 24 baseline
# buckets. Fifteen hours of 3 blocks a bucket from two countries; the
# fires file has 40 blocks from one country in the last bucket.
def waf(t, country, action="BLOCK"):
    return {"@timestamp": ts(t), "timestamp": int(t.timestamp() * 1000), "action": action,
            "terminatingRuleId": "AWS-AWSManagedRulesCommonRuleSet", "terminatingRuleType": "MANAGED_RULE_GROUP",
            "httpRequest": {"clientIp": "192.0.2.10", "country": country, "uri": "/", "httpMethod": "GET"},
            "labels": [{"name": "awswaf:managed:aws:core-rule-set:NoUserAgent_HEADER"}]}


def blocks(fire):
    out = []
    for b in range(30):
        start = T + datetime.timedelta(minutes=30 * b)
        for c in ("US", "FR"):
            n = 40 if fire and c == "FR" and b == 29 else 3
            for i in range(n):
                out.append(waf(start + datetime.timedelta(seconds=30 + 1700 * i // n), c))
        out.append(waf(start + datetime.timedelta(minutes=5), "DE", action="ALLOW"))
    # An allowed request after the last bucket: the backtest's sweeps reach
    # past its end, so that bucket is complete and scored.
    out.append(waf(T + datetime.timedelta(hours=15, minutes=5), "DE", action="ALLOW"))
    return out


write("waf-blocks-unusual-per-country", "fires", blocks(True))
write("waf-blocks-unusual-per-country", "quiet", blocks(False))


# rare-user-per-source-ip: max_seen 3 over 14 days. The first minute (the
# backtest's history) holds each usual (IP, user) pair three times; the
# rest of the hour repeats them. The fires file adds one login by a user
# that IP has never shown.
def login(t, ip, user):
    return {"@timestamp": ts(t), "kubernetes": {"namespace_name": "auth"}, "status": 200,
            "request": {"path": "/api/v1/login", "method": "POST"}, "client_ip": ip,
            "log": {"level": "INFO"}, "message": "POST /api/v1/login 200", "user": {"name": user}}


def logins(fire):
    t0 = T + datetime.timedelta(days=1, hours=9)
    pairs = [("198.51.100.7", "alice"), ("198.51.100.8", "bob"), ("198.51.100.9", "carol")]
    out = []
    for ip, user in pairs:
        for i in range(3):
            out.append(login(t0 + datetime.timedelta(seconds=5 + 15 * i), ip, user))
    for m in range(1, 60, 4):
        for ip, user in pairs:
            out.append(login(t0 + datetime.timedelta(minutes=m, seconds=20), ip, user))
    # a failed login is not a login
    out.append(login(t0 + datetime.timedelta(minutes=30), "198.51.100.7", "mallory") | {"status": 401})
    if fire:
        out.append(login(t0 + datetime.timedelta(minutes=42, seconds=7), "198.51.100.7", "mallory"))
    return out


write("rare-user-per-source-ip", "fires", logins(True))
write("rare-user-per-source-ip", "quiet", logins(False))

#!/usr/bin/env python3
"""Writes the rule pack's testdata: <rule>.fires.ndjson and <rule>.quiet.ndjson.

Deterministic (fixed seed). Rates, gaps and counts are chosen against each
rule's thresholds; change them together with the rule. Run from anywhere:
    python3 deploy/rules/testdata/generate.py && go test ./deploy/rules/
"""
import json, datetime, random, os
OUT = os.path.dirname(os.path.abspath(__file__))
T = datetime.datetime(2026, 11, 22, 10, 0, 0, tzinfo=datetime.timezone.utc)
rnd = random.Random(42)

def at(sec):
    return (T + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def be(sec, ns="shop", status=200, path="/api/v1/products", ms=120, ip="198.51.100.7", user=None, country="FR", level=None, msg=None):
    e = {"@timestamp": at(sec), "kubernetes": {"namespace_name": ns},
         "status": status, "request": {"path": path, "method": "POST" if "login" in path else "GET"},
         "response_time_ms": ms, "client_ip": ip, "geo": {"country_iso_code": country},
         "log": {"level": level or ("ERROR" if status >= 500 else "INFO")},
         "message": msg or ("%s %s %d" % ("POST" if "login" in path else "GET", path, status))}
    if user:
        e["user"] = {"name": user}
    return e

def fe(sec, status=200, path="/", ns="storefront"):
    return {"@timestamp": at(sec), "kubernetes.namespace_name": ns, "status": status,
            "request": {"path": path}, "client_ip": "203.0.113.%d" % (int(sec) % 50), "user_agent": "Mozilla/5.0"}

def waf(sec, action="ALLOW", ip="198.51.100.7", country="FR", rule="Default_Action", labels=(), uri="/"):
    return {"@timestamp": at(sec), "timestamp": int((T + datetime.timedelta(seconds=sec)).timestamp() * 1000),
            "action": action, "terminatingRuleId": rule, "terminatingRuleType": "MANAGED_RULE_GROUP" if rule != "Default_Action" else "REGULAR",
            "httpRequest": {"clientIp": ip, "country": country, "uri": uri, "httpMethod": "GET"},
            "labels": [{"name": l} for l in labels]}

CRS = "awswaf:managed:aws:core-rule-set:"

def write(rule, kind, events):
    events.sort(key=lambda e: e["@timestamp"])
    with open(os.path.join(OUT, "%s.%s.ndjson" % (rule, kind)), "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

def per_min(rate, start_min, end_min, fn):
    out = []
    for m in range(start_min, end_min):
        for i in range(rate):
            out.append(fn(m * 60 + (i + 0.5) * 60.0 / rate))
    return out

def noise(start_min, end_min, rate=3):
    return per_min(rate, start_min, end_min, lambda s: be(s, ns="catalog"))

# 1 be-5xx-spike-per-namespace
r = "be-5xx-spike-per-namespace"
write(r, "quiet", per_min(2, 0, 40, lambda s: be(s, status=503)) + per_min(1, 0, 40, lambda s: be(s, ns="auth", status=500)) + noise(0, 40))
write(r, "fires", per_min(2, 0, 25, lambda s: be(s, status=503)) + per_min(10, 25, 35, lambda s: be(s, status=502)) + noise(0, 35))

# 2 be-4xx-spike-per-namespace
r = "be-4xx-spike-per-namespace"
write(r, "quiet", per_min(5, 0, 40, lambda s: be(s, status=404)) + noise(0, 40))
write(r, "fires", per_min(5, 0, 25, lambda s: be(s, status=404)) + per_min(40, 25, 35, lambda s: be(s, status=400)) + noise(0, 35))

# 3 be-5xx-burst-per-namespace
r = "be-5xx-burst-per-namespace"
write(r, "quiet", per_min(4, 0, 20, lambda s: be(s, status=500)) + per_min(4, 0, 20, lambda s: be(s, ns="auth", status=502)) + noise(0, 20))
write(r, "fires", per_min(20, 5, 8, lambda s: be(s, status=500)) + noise(0, 10))

# 4 be-error-log-burst
r = "be-error-log-burst"
write(r, "quiet", per_min(10, 0, 20, lambda s: be(s, level="ERROR", msg="db timeout")) + noise(0, 20))
write(r, "fires", per_min(40, 2, 6, lambda s: be(s, level="ERROR", msg="upstream connect error")) + noise(0, 10))

# 5 fe-5xx-burst
r = "fe-5xx-burst"
write(r, "quiet", per_min(1, 0, 20, lambda s: fe(s, 502, "/checkout")) + per_min(1, 0, 20, lambda s: fe(s, 500, "/cart")) + per_min(5, 0, 20, lambda s: fe(s, 200, "/")))
write(r, "fires", per_min(14, 3, 6, lambda s: fe(s, 503, "/checkout")) + per_min(5, 0, 10, lambda s: fe(s, 200, "/")))

# 6 fe-4xx-spike
r = "fe-4xx-spike"
write(r, "quiet", per_min(8, 0, 50, lambda s: fe(s, 404, "/old-page")) + per_min(30, 40, 50, lambda s: fe(s, 404, "/healthz/ready")))
write(r, "fires", per_min(8, 0, 35, lambda s: fe(s, 404, "/old-page")) + per_min(40, 35, 50, lambda s: fe(s, 403, "/account")))

# 7 waf-xss-body
r = "waf-xss-body"
base = per_min(5, 0, 10, lambda s: waf(s)) + per_min(1, 0, 10, lambda s: waf(s, "BLOCK", "192.0.2.77", "US", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "SizeRestrictions_BODY"]))
write(r, "quiet", base)
write(r, "fires", base + [waf(300, "BLOCK", "203.0.113.9", "RU", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "CrossSiteScripting_Body"], "/search")])

# 8 waf-core-rule-set-burst
r = "waf-core-rule-set-burst"
quiet = per_min(10, 0, 15, lambda s: waf(s, "BLOCK", "192.0.2.%d" % (int(s) % 40), "US", "AWS-AWSManagedRulesBotControlRuleSet", ["awswaf:managed:aws:bot-control:bot:category:http_library"]))
for k, ip in enumerate(["192.0.2.10", "192.0.2.11", "192.0.2.12"]):
    quiet += [waf(60 * (k + 1) + 30 * i, "BLOCK", ip, "DE", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "GenericLFI_QUERYARGUMENTS"]) for i in range(5)]
write(r, "quiet", quiet)
write(r, "fires", quiet[:50] + [waf(120 + 7 * i, "BLOCK", "203.0.113.9", "CN", "AWS-AWSManagedRulesCommonRuleSet", [CRS + ["CrossSiteScripting_QUERYARGUMENTS", "GenericRFI_BODY", "EC2MetaDataSSRF_QUERYARGUMENTS"][i % 3]]) for i in range(25)])

# 9 waf-lfi-rfi
r = "waf-lfi-rfi"
base = per_min(5, 0, 10, lambda s: waf(s)) + [waf(200, "BLOCK", "192.0.2.77", "US", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "CrossSiteScripting_Body"])]
write(r, "quiet", base)
write(r, "fires", base + [waf(400, "BLOCK", "203.0.113.66", "BR", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "GenericLFI_URIPATH"], "/../../etc/passwd")])

# 10 waf-sqli-burst
r = "waf-sqli-burst"
quiet = per_min(5, 0, 20, lambda s: waf(s))
for k, ip in enumerate(["192.0.2.20", "192.0.2.21"]):
    quiet += [waf(120 * (k + 1) + 60 * i, "BLOCK", ip, "US", "AWS-AWSManagedRulesSQLiRuleSet", ["awswaf:managed:aws:sql-database:SQLi_QueryArguments"]) for i in range(3)]
quiet += [waf(600 + 20 * i, "COUNT", "192.0.2.22", "US", "AWS-AWSManagedRulesSQLiRuleSet", ["awswaf:managed:aws:sql-database:SQLi_Body"]) for i in range(10)]
write(r, "quiet", quiet)
write(r, "fires", quiet + [waf(300 + 50 * i, "BLOCK", "203.0.113.9", "NL", "AWS-AWSManagedRulesSQLiRuleSet", ["awswaf:managed:aws:sql-database:SQLi_Body"]) for i in range(6)])

# 11 waf-blocked-spike
r = "waf-blocked-spike"
blk = lambda s: waf(s, "BLOCK", "192.0.2.%d" % (int(s) % 200), "US", "AWS-AWSManagedRulesCommonRuleSet", [CRS + "NoUserAgent_HEADER"])
write(r, "quiet", per_min(5, 0, 40, blk) + per_min(3, 0, 40, lambda s: waf(s)))
write(r, "fires", per_min(5, 0, 25, blk) + per_min(40, 25, 35, blk) + per_min(3, 0, 35, lambda s: waf(s)))

# 12 waf-allowed-from-blocked-country
r = "waf-allowed-from-blocked-country"
base = per_min(5, 0, 10, lambda s: waf(s, country=["FR", "US", "DE"][int(s) % 3])) + [waf(100 + i, "BLOCK", "175.45.176.%d" % i, "KP", "GeoBlock") for i in range(5)]
write(r, "quiet", base)
write(r, "fires", base + [waf(450, "ALLOW", "175.45.176.9", "KP")])

# 13 waf-ingestion-stopped
r = "waf-ingestion-stopped"
write(r, "quiet", per_min(1, 0, 90, lambda s: waf(s)))
write(r, "fires", per_min(1, 0, 40, lambda s: waf(s)) + per_min(1, 80, 90, lambda s: waf(s)))

# 14 be-ingestion-stopped
r = "be-ingestion-stopped"
write(r, "quiet", per_min(5, 0, 70, lambda s: be(s)))
write(r, "fires", per_min(5, 0, 30, lambda s: be(s)) + [be(30 * 60 + 300 * i) for i in range(6)] + per_min(5, 60, 70, lambda s: be(s)))

# 15 be-namespace-silent
r = "be-namespace-silent"
write(r, "quiet", per_min(1, 0, 60, lambda s: be(s, ns="shop")) + per_min(1, 0, 60, lambda s: be(s + 5, ns="auth")))
write(r, "fires", per_min(1, 0, 60, lambda s: be(s, ns="shop")) + per_min(1, 0, 20, lambda s: be(s + 5, ns="auth")))

# 16 login-failures-per-ip
r = "login-failures-per-ip"
quiet = per_min(4, 0, 15, lambda s: be(s, ns="auth", path="/api/v1/login", ip="198.51.100.%d" % (int(s) % 9), user="user%d" % (int(s) % 9)))
for k in range(5):
    quiet += [be(60 * k + 200 * i, ns="auth", status=401, path="/api/v1/login", ip="192.0.2.%d" % k, user="user%d" % k) for i in range(3)]
quiet += [be(300 + 10 * i, ns="auth", status=401, path="/api/v1/profile", ip="192.0.2.99") for i in range(20)]
write(r, "quiet", quiet)
write(r, "fires", quiet + [be(400 + 8 * i, ns="auth", status=401, path="/api/v1/login", ip="203.0.113.9", user="admin", country="RU") for i in range(15)])

# 17 login-failures-per-country
r = "login-failures-per-country"
quiet = []
for c in ["FR", "DE", "US"]:
    quiet += [be(55 * i + ord(c[0]), ns="auth", status=401, path="/api/v1/login", ip="198.51.100.%d" % i, user="u%d" % i, country=c) for i in range(10)]
quiet += per_min(4, 0, 10, lambda s: be(s, ns="auth", path="/api/v1/login", user="ok"))
write(r, "quiet", quiet)
write(r, "fires", quiet + [be(60 + 9 * i, ns="auth", status=403, path="/api/v1/login", ip="203.0.113.%d" % (i % 50), user="u%d" % i, country="RU") for i in range(50)])

# 18 login-failure-ratio (5-minute sweeps aligned on the hour)
r = "login-failure-ratio"
def logins(start_min, n, failed):
    return [be(start_min * 60 + 5 + i * (290.0 / n), ns="auth", status=401 if i < failed else 200, path="/api/v1/login", user="u%d" % i) for i in range(n)]
quiet = logins(0, 40, 2) + logins(5, 40, 3) + logins(10, 10, 5) + per_min(5, 0, 15, lambda s: be(s, status=401, path="/api/v1/profile"))
write(r, "quiet", quiet)
write(r, "fires", quiet + logins(15, 40, 20))

# 19 latency-key-routes
r = "latency-key-routes"
def lat(path, ms_fn, start_min, end_min, rate=3):
    return per_min(rate, start_min, end_min, lambda s: be(s, path=path, ms=ms_fn(s)))
quiet = lat("/api/v1/checkout", lambda s: 180 + rnd.randint(0, 40), 0, 15) + lat("/api/v1/login", lambda s: 90 + rnd.randint(0, 20), 0, 15) + lat("/api/v1/reports/export", lambda s: 4000, 0, 15)
quiet += [be(130, path="/api/v1/checkout", ms=1500)]
write(r, "quiet", quiet)
write(r, "fires", quiet + lat("/api/v1/payments", lambda s: 1400 + rnd.randint(0, 300), 5, 15))

# 20 latency-spike-checkout
r = "latency-spike-checkout"
write(r, "quiet", lat("/api/v1/checkout", lambda s: 190 + rnd.randint(0, 20), 0, 100, 2))
write(r, "fires", lat("/api/v1/checkout", lambda s: 190 + rnd.randint(0, 20), 0, 70, 2) + lat("/api/v1/checkout", lambda s: 700 + rnd.randint(0, 50), 70, 90, 2))

# 21 user-new-country (first 1-minute sweep seeds the known terms)
r = "user-new-country"
def login(sec, user, country, status=200, ip="198.51.100.7"):
    return be(sec, ns="auth", status=status, path="/api/v1/login", user=user, country=country, ip=ip)
seed = [login(5, "alice", "FR"), login(15, "bob", "DE"), login(25, "carol", "US"), login(35, "alice", "BE")]
later = [login(60 * m + 10, u, c) for m in range(1, 20) for (u, c) in [("alice", "FR"), ("bob", "DE"), ("carol", "US")]]
quiet = seed + later + [login(600, "alice", "KP", status=401)]
write(r, "quiet", quiet)
write(r, "fires", quiet + [login(900, "alice", "KP")])

# 22 rare-user-per-ip
r = "rare-user-per-ip"
seed = [login(5, "alice", "FR", ip="198.51.100.7"), login(15, "bob", "DE", ip="198.51.100.8"), login(25, "alice", "FR", ip="198.51.100.9")]
later = [login(60 * m + 10, u, c, ip=ip) for m in range(1, 20) for (u, c, ip) in [("alice", "FR", "198.51.100.7"), ("bob", "DE", "198.51.100.8")]]
quiet = seed + later + [login(700, "mallory", "FR", status=401, ip="198.51.100.7")]
write(r, "quiet", quiet)
write(r, "fires", quiet + [login(800, "mallory", "FR", ip="198.51.100.7")])

# 23 many-users-per-ip
r = "many-users-per-ip"
quiet = []
for k in range(5):
    quiet += [login(30 * i + k, "user%d-%d" % (k, i % 2), "FR", status=401 if i % 3 else 200, ip="192.0.2.%d" % k) for i in range(60)]
quiet += [login(10 * i, "old%d" % i, "FR", 401, "198.51.100.50") for i in range(6)]
quiet += [login(1200 + 10 * i, "new%d" % i, "FR", 401, "198.51.100.50") for i in range(6)]
write(r, "quiet", quiet)
write(r, "fires", quiet + [login(600 + 20 * i, "victim%d" % i, "FR", 401, "203.0.113.9") for i in range(15)])

# 24 user-country-change
r = "user-country-change"
quiet = [login(300 * i, "bob", "DE") for i in range(30)] + [login(0, "alice", "FR"), login(600, "alice", "FR"), login(3 * 3600, "alice", "US")]
write(r, "quiet", quiet)
write(r, "fires", quiet + [login(1800, "alice", "US", ip="203.0.113.40")])

# 25 admin-from-outside
r = "admin-from-outside"
base = per_min(2, 0, 10, lambda s: be(s, path="/admin/users", ip="10.0.0.10", user="ops")) + per_min(5, 0, 10, lambda s: be(s, path="/api/v1/products", ip="203.0.113.%d" % (int(s) % 30)))
write(r, "quiet", base)
write(r, "fires", base + [be(333, path="/admin/settings", ip="203.0.113.200", user="ops")])

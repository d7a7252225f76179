#!/usr/bin/env python3
"""Per-address findings worked out once per run (shared.memo in the tcp and smtp rules, issue 21)
are keyed by everything they read besides the probe: a batch (no network: a recording built from
the shipped ones) in which domains share an MX address but differ in such an input must still get
each its own finding and published entry.

- preference: two domains whose MX is the same host at preference 10 and 20 (mx, tcp, smtp and dnsbl-mx evidence;
  the smtp rule reads the preference from tcp.results, which the tcp rule publishes through shared.list:
  a list shared by the wrong checks shows there);
- the mx rule's mx.reserved_address (memo'd per host, preference, address and allow_reserved): entries of
  one list with and without allow_reserved get info and warn;
- the mx rule's addresses, worked out once per pair of A and AAAA answers (the shared answer tables):
  a replay whose AAAA of the MX host was recorded twice with other addresses hands the second check
  that answer while its A is the shared one: its addresses must be its own answers';
- the dnsbl rule (the sender's reputation, no domain in it): entries with their own dnsbl_zones or
  sender_ips;
- each check its own finding: two domains sharing their MX address, a site override replacing the
  summary of one domain's tcp/smtp finding (memo'd, converted once per run): the other's stays its own;
- the host's other family: the same MX host and address checked once with a source address of each
  family (its IPv4 connects, its IPv6 times out: "the same host answers over IPv4") and once with
  the IPv6 source alone (nothing else to compare with: no such advice).
(--replay runs one worker.) And over loopback, batch -P 2 (each worker has its own Lua state and its
own memo) gives the same findings as -P 1: a listening SMTP server and a closed port, each listed
several times."""
import copy, json, os, re, socket, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import SmtpListener

mx, src = sys.argv[1], sys.argv[2]
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
shipped = os.path.join(src, "tests", "rules", "shipped")
tmp = tempfile.mkdtemp(prefix="mxdiag-memo-")
failures = []


def batch(rec, lst, *args):
    p = subprocess.run([mx, "--no-config", "batch", "--replay", rec, "--allow-reserved", "--timeout", "3", "-q",
                        *args, lst], capture_output=True, text=True, env=env, timeout=120)
    if not p.stdout.strip():
        failures.append("batch %s wrote nothing: %s" % (" ".join(args), p.stderr[-500:]))
        return []
    return sorted((json.loads(l) for l in p.stdout.splitlines() if l.strip()), key=lambda o: o["index"])


def load(name):
    return json.load(open(os.path.join(shipped, name, "recording.json")))


# ---- preference: pref10.test and pref20.test, both MX mx.healthy.test (192.0.2.10, 2001:db8::10),
# which is listed on Spamhaus ZEN here (127.0.0.4, XBL): tcp, smtp and dnsbl-mx evidence
rec = load("healthy")
for c in rec["calls"]:
    if c["call"] == "dns.query" and c["args"] == {"name": "10.2.0.192.zen.spamhaus.org", "type": "A"}:
        c["result"].update(status="NOERROR", rcode="NOERROR",
                           answers=[{"name": c["args"]["name"], "type": "A", "ttl": 30, "data": "127.0.0.4"}])
base_mx = next(c for c in rec["calls"] if c["call"] == "dns.query" and c["args"] == {"name": "healthy.test", "type": "MX"})
for dom, pref in (("pref10.test", 10), ("pref20.test", 20)):
    c = copy.deepcopy(base_mx)
    c["args"]["name"] = c["result"]["name"] = dom
    for a in c["result"]["answers"]:
        a["name"], a["preference"] = dom, pref
    rec["calls"].append(c)
    rec["checks"].append(dict(rec["checks"][0], target=dom))
prec = os.path.join(tmp, "pref.json")
json.dump(rec, open(prec, "w"))
plist = os.path.join(tmp, "pref.txt")
open(plist, "w").write("pref10.test\npref20.test\npref10.test\npref20.test\n")
for workers in ("1", "2"):
    for o in batch(prec, plist, "-P", workers, "--only", "smtp,dnsbl-mx"):
        want = 10 if o["target"]["domain"] == "pref10.test" else 20
        seen = {}
        for f in o["findings"]:
            pr = (f.get("evidence") or {}).get("preference")
            if f["rule"] in ("mx", "tcp", "smtp", "dnsbl-mx") and pr is not None:
                seen.setdefault(f["rule"], set()).add(pr)
        if seen != {"mx": {want}, "tcp": {want}, "smtp": {want}, "dnsbl-mx": {want}}:
            failures.append("-P %s %s (entry %d): preference in mx/tcp/smtp/dnsbl-mx evidence %r, expected %d"
                            % (workers, o["target"]["domain"], o["index"], seen, want))

# ---- each check its own finding: a.test and b.test share their MX (the same host, address and
# preference: one memo'd finding per address, converted once per run), and a site override of a.test's
# tcp.connected and smtp.greeting_ok replaces their summary. b.test's must stay the rule's own (an
# override writes into the finding of its check: never into a tree another check shares)
rec = load("healthy")
base_mx = next(c for c in rec["calls"] if c["call"] == "dns.query" and c["args"] == {"name": "healthy.test", "type": "MX"})
for dom in ("a.test", "b.test"):
    c = copy.deepcopy(base_mx)
    c["args"]["name"] = c["result"]["name"] = dom
    for a in c["result"]["answers"]:
        a["name"] = dom
    rec["calls"].append(c)
    rec["checks"].append(dict(rec["checks"][0], target=dom))
orec = os.path.join(tmp, "override.json")
json.dump(rec, open(orec, "w"))
olist = os.path.join(tmp, "override.yaml")
open(olist, "w").write("defaults:\n  overrides:\n"
                       "    - code: tcp.connected\n      domains: [a.test]\n      summary: overridden for a.test\n"
                       "    - code: smtp.greeting_ok\n      domains: [a.test]\n      summary: overridden for a.test\n"
                       "domains: [a.test, b.test, a.test, b.test, b.test, a.test]\n")
out = batch(orec, olist, "--only", "smtp")
if len(out) != 6:
    failures.append("override: %d results, expected 6" % len(out))
plain = {}
for o in out:
    dom = o["target"]["domain"]
    got = [f for f in o["findings"] if f["code"] in ("tcp.connected", "smtp.greeting_ok")]
    if len(got) < 3 or {f["code"] for f in got} != {"tcp.connected", "smtp.greeting_ok"}:
        failures.append("override: %s (entry %d): findings %r" % (dom, o["index"], [f["code"] for f in o["findings"]]))
    for f in got:
        over = f["summary"] == "overridden for a.test" and "site_override" in f["evidence"]
        if over != (dom == "a.test") or (dom == "b.test" and "overridden" in json.dumps(f)):
            failures.append("override: %s (entry %d) %s: summary %r, evidence %r"
                            % (dom, o["index"], f["code"], f["summary"], f["evidence"]))
        if dom == "b.test":
            # every b.test entry the same findings: the rule's own
            plain.setdefault((f["code"], f["evidence"].get("address")), set()).add(json.dumps(f, sort_keys=True))
if any(len(v) != 1 for v in plain.values()):
    failures.append("override: b.test's findings differ between its entries: %r" % plain)

# ---- the host's other family: v6drop.test from an IPv4 and an IPv6 source, then from the IPv6 one alone
rec = load("v6drop")
S4, S6 = "192.0.2.250", "2001:db8::250"
extra = []
for c in rec["calls"]:
    if c["call"] == "net.connect" and "ttl" not in c["args"] and c["args"]["timeout_ms"] == 3000:
        s = copy.deepcopy(c)
        a = c["args"]  # in the order the gate writes them: address, port, source, timeout_ms
        s["args"] = {"address": a["address"], "port": a["port"], "source": S6 if ":" in a["address"] else S4,
                     "timeout_ms": a["timeout_ms"]}
        s["result"]["source"] = s["args"]["source"]
        extra.append(s)
rec["calls"] += extra
frec = os.path.join(tmp, "family.json")
json.dump(rec, open(frec, "w"))
flist = os.path.join(tmp, "family.yaml")
open(flist, "w").write("domains:\n"
                       "  - domain: v6drop.test\n    source_ips: [%s, %s]\n"
                       "  - domain: v6drop.test\n    source_ips: [%s]\n"
                       "  - domain: v6drop.test\n    source_ips: [%s, %s]\n" % (S4, S6, S6, S4, S6))
for workers in ("1", "2"):
    out = batch(frec, flist, "-P", workers, "--only", "tcp")
    for o in out:
        both = o["index"] != 1
        t = [f for f in o["findings"] if f["code"] == "tcp.timeout"]
        if len(t) != 1:
            failures.append("-P %s entry %d: %d tcp.timeout findings, expected 1: %r"
                            % (workers, o["index"], len(t), [f["code"] for f in o["findings"]]))
            continue
        says = "over IPv4" in t[0].get("advice", "")
        if says != both:
            failures.append("-P %s entry %d (sources %s): tcp.timeout advice %s the IPv4 comparison: %r"
                            % (workers, o["index"], "both" if both else "IPv6 only",
                               "lacks" if both else "makes", t[0].get("advice")))
        fam = [f for f in o["findings"] if f["code"] == "tcp.family_fails"]
        if bool(fam) != both:
            failures.append("-P %s entry %d: tcp.family_fails %s" % (workers, o["index"], "missing" if both else "made"))

# ---- the mx rule's per-address findings (mx.reserved_address, memo'd) once per run for its inputs:
# an entry with allow_reserved: false between two without it (the run's --allow-reserved) gets warn
rlist = os.path.join(tmp, "reserved.yaml")
open(rlist, "w").write("domains:\n  - healthy.test\n  - domain: healthy.test\n    allow_reserved: false\n"
                       "  - healthy.test\n")
got = {o["index"]: sorted({f["severity"] for f in o["findings"] if f["code"] == "mx.reserved_address"})
       for o in batch(os.path.join(shipped, "healthy", "recording.json"), rlist, "--only", "mx")}
if got != {0: ["info"], 1: ["warn"], 2: ["info"]}:
    failures.append("mx: mx.reserved_address severities per entry %r, expected info, warn, info" % got)

# ---- the mx rule's addresses per pair of answers: mx.healthy.test's AAAA recorded twice (2001:db8::10,
# then 2001:db8::11), its A once. Check 1 gets both answers fresh; check 2 the shared A and the second
# AAAA; checks 3 and 4 the shared A and the shared (first) AAAA. Keyed by the A alone, check 3 would
# get check 2's addresses.
rec = load("healthy")
aaaa = next(c for c in rec["calls"] if c["call"] == "dns.query"
            and c["args"] == {"name": "mx.healthy.test", "type": "AAAA"})
second = copy.deepcopy(aaaa)
second["result"]["answers"][0]["data"] = "2001:db8::11"
rec["calls"].insert(rec["calls"].index(aaaa) + 1, second)
arec = os.path.join(tmp, "answers.json")
json.dump(rec, open(arec, "w"))
alist = os.path.join(tmp, "answers.txt")
open(alist, "w").write("healthy.test\n" * 4)
got = {o["index"]: [h["addresses"] for f in o["findings"] if f["code"] == "mx.ok" for h in f["evidence"]["hosts"]]
       for o in batch(arec, alist, "--only", "mx", "-j", "1")}
want = {0: [["192.0.2.10", "2001:db8::10"]], 1: [["192.0.2.10", "2001:db8::11"]],
        2: [["192.0.2.10", "2001:db8::10"]], 3: [["192.0.2.10", "2001:db8::10"]]}
if got != want:
    failures.append("mx: addresses per check %r, expected %r" % (got, want))

# ---- the dnsbl rule's findings (the sender's, the same for every domain of a run) once per run for its
# inputs: entries of one list with other dnsbl_zones or sender_ips get their own
dlist = os.path.join(tmp, "dnsbl.yaml")
open(dlist, "w").write("domains:\n  - healthy.test\n  - domain: healthy.test\n    dnsbl_zones: [zen.spamhaus.org]\n"
                       "  - domain: healthy.test\n    sender_ips: [198.51.100.3]\n  - healthy.test\n")
got = {o["index"]: [(f["code"], f["summary"]) for f in o["findings"] if f["rule"] == "dnsbl"]
       for o in batch(os.path.join(shipped, "dnsblpartial", "recording.json"), dlist, "--sender-ip", "198.51.100.2",
                      "--dnsbl-zone", "zen.spamhaus.org", "--dnsbl-zone", "dead.lab.test",
                      "--dnsbl-zone", "nolist.lab.test", "--only", "dnsbl")}
codes = {i: [c for c, _ in v] for i, v in got.items()}
if codes.get(0) != ["dnsbl.clean", "dnsbl.unreliable"] or got.get(3) != got.get(0):
    failures.append("dnsbl: the default entries: %r" % got)
if codes.get(1) != ["dnsbl.clean"]:
    failures.append("dnsbl: dnsbl_zones [zen.spamhaus.org] alone still has the other lists: %r" % got.get(1))
if not any("198.51.100.3" in t for _, t in got.get(2, [])) or any("198.51.100.2" in t for _, t in got.get(2, [])):
    failures.append("dnsbl: sender_ips [198.51.100.3] is not the subject: %r" % got.get(2))

# ---- -P 2 against -P 1 over loopback (no DNS: the targets are addresses)
srv = SmtpListener()
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()  # nothing listens there now: refused
llist = os.path.join(tmp, "loop.yaml")
open(llist, "w").write("domains:\n" + "".join(
    "  - 127.0.0.1:%d\n  - domain: 127.0.0.1:%d\n    helo: memo%d.example\n  - 127.0.0.1:%d\n"
    % (srv.port, srv.port, i % 2, closed_port) for i in range(4)))


def loop(workers):
    p = subprocess.run([mx, "--no-config", "batch", "--allow-reserved", "--timeout", "3", "-q", "-P", workers,
                        "-j", "4", "--only", "smtp", llist], capture_output=True, text=True, env=env, timeout=120)
    rows = {}
    for l in p.stdout.splitlines():
        o = json.loads(l)
        # timings differ between runs: masked
        rows[o["index"]] = sorted((f["rule"], f["code"], re.sub(r"\d+ ms|\d+\.\d+ s", "T", f["summary"]))
                                  for f in o["findings"])
    return rows, p.stderr


one, e1 = loop("1")
two, e2 = loop("2")
if len(one) != 12 or one != two:
    failures.append("loopback batch: -P 2 differs from -P 1 (%d/%d entries)\n-P 1: %r\n-P 2: %r\n%s%s"
                    % (len(one), len(two), one, two, e1[-300:], e2[-300:]))
elif not any(c == "smtp.greeting_ok" for r in one.values() for _, c, _ in r) or \
        not any(c == "tcp.refused" for r in one.values() for _, c, _ in r):
    failures.append("loopback batch: no greeting or no refusal: %r" % one)
else:
    print("loopback: %d entries, the same with -P 1 and -P 2" % len(one))

# the dnsbl rule's run-wide result crosses workers (shared.once: a copy): the resolver a closed loopback
# port (every list refuses), the targets addresses (no MX query)
lo = os.path.join(tmp, "lo.txt")
open(lo, "w").write("127.0.0.1\n127.0.0.2\n127.0.0.3\n127.0.0.4\n")


def dnsbl_loop(workers):
    p = subprocess.run([mx, "--no-config", "batch", "--allow-reserved", "--timeout", "2", "-q", "-P", workers, "-j", "4",
                        "--only", "dnsbl", "--sender-ip", "198.51.100.2", "--resolver", "127.0.0.1:%d" % closed_port,
                        "--dnsbl-zone", "zen.spamhaus.org", "--dnsbl-zone", "dead.example", "--plain", lo],
                       capture_output=True, text=True, env=env, timeout=120)
    return {json.loads(l)["index"]: json.loads(l)["findings"] for l in p.stdout.splitlines() if l.strip()}


d1, d2 = dnsbl_loop("1"), dnsbl_loop("2")
if len(d1) != 4 or d1 != d2 or any(v != d1[0] for v in d1.values()) or \
        [f["code"] for f in d1.get(0, [])] != ["dnsbl.unreliable"]:
    failures.append("dnsbl over loopback: -P 1 %r\n-P 2 %r" % (d1, d2))

for f in failures:
    print("FAIL:", f)
print("memo: %d failures" % len(failures))
sys.exit(1 if failures else 0)

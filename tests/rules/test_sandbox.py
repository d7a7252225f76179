#!/usr/bin/env python3
"""Sandbox hardening: every rule in sandbox/ misbehaves (loops, allocates,
escapes, raises); each must end as one rule.error naming its rule, file and
line, and every other rule's findings must stay byte for byte the same.
Runs against a recording of 127.0.0.1:<closed port>: no network."""
import json, os, re, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, closed_port

mx = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
sbdir = os.path.join(here, "sandbox")
tmp = tempfile.mkdtemp(prefix="mxdiag-sandbox-")
rec = os.path.join(tmp, "rec.json")
target = "127.0.0.1:%d" % closed_port()

base = json.loads(run(mx, "check", target, "--json", "--timeout", "2", "--record", rec, check_rc=(0, 1, 2, 3)).stdout)
t0 = time.time()
p = run(mx, "check", target, "--json", "--timeout", "2", "--replay", rec, "--rules-dir", sbdir, check_rc=(0, 1, 2, 3), timeout=300)
elapsed = time.time() - t0
out = json.loads(p.stdout)

expect = {}
for name in sorted(os.listdir(sbdir)):
    if not name.endswith(".lua"):
        continue
    path = os.path.join(sbdir, name)
    text = open(path).read()
    rid = re.search(r'id = "([^"]+)"', text).group(1)
    for n, line in enumerate(text.splitlines(), 1):
        m = re.search(r"--@line (.*)$", line)
        if m:
            expect[rid] = (path, n, m.group(1).strip())

failures = []
by_rule = {}
for f in out["findings"]:
    by_rule.setdefault(f["rule"], []).append(f)
for rid, (path, line, pattern) in sorted(expect.items()):
    fs = by_rule.get(rid, [])
    if len(fs) != 1 or fs[0]["code"] != "rule.error":
        failures.append("%s: expected exactly one rule.error, got %s" % (rid, [f["code"] for f in fs]))
        continue
    ev = fs[0]["evidence"]
    if ev.get("file") != path or ev.get("line") != line:
        failures.append("%s: expected %s:%d, got %s:%s" % (rid, path, line, ev.get("file"), ev.get("line")))
    if not re.search(pattern, fs[0]["summary"]):
        failures.append("%s: summary %r does not match %r" % (rid, fs[0]["summary"], pattern))
    if fs[0]["severity"] != "unknown":
        failures.append("%s: severity %s, expected unknown" % (rid, fs[0]["severity"]))
    status = [r for r in out["rules"] if r["id"] == rid]
    if not status or status[0]["status"] != "failed":
        failures.append("%s: rule status %s, expected failed" % (rid, status))

others = [f for f in out["findings"] if f["rule"] not in expect]
if others != base["findings"]:
    failures.append("the other rules' findings changed:\nbase: %s\nwith bad rules: %s" %
                    (json.dumps(base["findings"], indent=1), json.dumps(others, indent=1)))
if os.path.exists("/tmp/mxdiag-sandbox-escaped"):
    failures.append("os.execute ran")
print("%d misbehaving rules stopped in %.1f s" % (len(expect), elapsed))
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

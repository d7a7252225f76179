#!/usr/bin/env python3
"""Sandbox hardening, no network (recordings of loopback targets).

1. Every rule in sandbox/ misbehaves (loops, allocates, escapes, raises, hides
   work in C calls): each must end as one rule.error naming its rule, file and
   line, and every other rule's findings must stay byte for byte the same.
2. Each file of sandbox/load/ misbehaves at its top level: loading must fail
   (exit 3) naming the file and the loading budget, in bounded time.
3. Each file of sandbox/escape/ tries to reach what other rules or later
   domains see: loaded alone into a batch of two checks of a healthy SMTP
   listener, it must end as its --@line says (or, with --@ok, quietly), and
   the shipped rules' findings of both checks must equal those without it."""
import json, os, re, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, closed_port, SmtpListener

mx = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
sbdir = os.path.join(here, "sandbox")
tmp = tempfile.mkdtemp(prefix="mxdiag-sandbox-")
rec = os.path.join(tmp, "rec.json")
target = "127.0.0.1:%d" % closed_port()

base = json.loads(run(mx, "check", target, "--json", "--timeout", "2", "--record", rec, check_rc=(0, 1, 2, 3)).stdout)
t0 = time.time()
p = run(mx, "check", target, "--json", "--timeout", "2", "--replay", rec, "--rules-dir", sbdir, check_rc=(0, 1, 2, 3), timeout=800)
elapsed = time.time() - t0
out = json.loads(p.stdout)

def expectations(d):
    """rule id -> (path, line, pattern) for --@line, (path, 0, None) for --@ok"""
    expect = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith(".lua"):
            continue
        path = os.path.join(d, name)
        text = open(path).read()
        rid = re.search(r'id = "([^"]+)"', text).group(1)
        for n, line in enumerate(text.splitlines(), 1):
            m = re.search(r"--@line (.*)$", line)
            if m:
                expect[rid] = (path, n, m.group(1).strip())
            elif "--@ok" in line:
                expect[rid] = (path, 0, None)
    return expect

expect = expectations(sbdir)

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

# 2. top-level code of a rule file: the loading budget ends it
loaddir = os.path.join(sbdir, "load")
for name in sorted(os.listdir(loaddir)):
    if not name.endswith(".lua"):
        continue
    one = os.path.join(tmp, "load-" + name[:-4])
    os.makedirs(one)
    shutil.copy(os.path.join(loaddir, name), one)
    t0 = time.time()
    try:
        p = run(mx, "check", target, "--json", "--timeout", "2", "--replay", rec, "--rules-dir", one, timeout=300)
    except Exception as e:
        failures.append("load/%s: did not end: %s" % (name, e))
        continue
    if p.returncode != 3 or name not in p.stderr or "instruction budget exceeded while loading" not in p.stderr:
        failures.append("load/%s: expected exit 3 naming the file and the loading budget, got %d: %s" %
                        (name, p.returncode, p.stderr.strip()))
    print("load/%-28s refused in %.1f s" % (name, time.time() - t0))

# 3. escapes: a batch of two checks of a healthy listener, recorded once
smtp = SmtpListener()
healthy = "127.0.0.1:%d" % smtp.port
blist = os.path.join(tmp, "batch.txt")
open(blist, "w").write("%s\n%s\n" % (healthy, healthy))
brec = os.path.join(tmp, "batch.rec.json")
run(mx, "batch", "--plain", blist, "--timeout", "2", "-q", "-j", "1", "--record", brec, check_rc=(0, 1, 2, 3))
smtp.close()

def batch(*extra):
    p = run(mx, "batch", "--plain", blist, "--timeout", "2", "-q", "-j", "1", "--replay", brec, *extra,
            check_rc=(0, 1, 2, 3), timeout=600)
    docs = sorted((json.loads(l) for l in p.stdout.splitlines() if l.strip()), key=lambda d: d["index"])
    if len(docs) != 2:
        raise SystemExit("batch %s: expected 2 results, got %d\n%s" % (extra, len(docs), p.stderr))
    return docs

base_b = batch()
codes = [f["code"] for f in base_b[0]["findings"]]
if "tcp.connected" not in codes or "smtp.greeting_ok" not in codes:
    failures.append("the healthy listener's recording lacks tcp.connected/smtp.greeting_ok: %s" % codes)
escdir = os.path.join(sbdir, "escape")
esc = expectations(escdir)
for rid, (path, line, pattern) in sorted(esc.items()):
    one = os.path.join(tmp, "escape-" + rid)
    os.makedirs(one)
    shutil.copy(path, one)
    docs = batch("--rules-dir", one)
    for i, (doc, base_doc) in enumerate(zip(docs, base_b)):
        where = "escape/%s (%s), check %d" % (os.path.basename(path), rid, i + 1)
        own = [f for f in doc["findings"] if f["rule"] == rid]
        status = [r["status"] for r in doc["rules"] if r["id"] == rid]
        if pattern is None:
            if own or status != ["done"]:
                failures.append("%s: expected no findings and status done, got %s %s" %
                                (where, [(f["code"], f["summary"]) for f in own], status))
        elif len(own) != 1 or own[0]["code"] != "rule.error" or not re.search(pattern, own[0]["summary"]) \
                or own[0]["evidence"].get("line") != line:
            failures.append("%s: expected one rule.error at line %d matching %r, got %s" %
                            (where, line, pattern, [(f["code"], f["summary"], f["evidence"].get("line")) for f in own]))
        shipped = [f for f in doc["findings"] if f["rule"] != rid]
        if shipped != base_doc["findings"]:
            failures.append("%s: the shipped rules' findings changed:\nwithout: %s\nwith: %s" %
                            (where, [(f["rule"], f["code"]) for f in base_doc["findings"]],
                             [(f["rule"], f["code"]) for f in shipped]))
    print("escape/%-24s checked (two checks)" % os.path.basename(path))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

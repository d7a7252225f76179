#!/usr/bin/env python3
"""--record then --replay gives byte-identical output (JSON, text, letter),
against real runs over loopback: a tiny SMTP listener and a closed port.
With the lab up (tests/lab/lab up), lab domains are checked the same way."""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, closed_port, SmtpListener

mx = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="mxdiag-replay-")
failures = []

def roundtrip(name, target, extra=(), prefix=()):
    rec = os.path.join(tmp, name + ".rec.json")
    def go(*args):
        cmd = [*prefix, mx, "check", target, "--timeout", "3", *extra, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, NO_COLOR="1", MXDIAG_RULES_PATH=""))
        if p.returncode not in (0, 1, 2, 3):
            failures.append("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
        return p.stdout
    live = go("--json", "--record", rec)
    doc = json.load(open(rec))
    if doc.get("checks", [{}])[0].get("target") != target or "options" not in doc:
        failures.append("%s: the recording lacks the target or the options" % name)
    for fmt in (["--json"], [], ["--letter"]):
        again = go(*fmt, "--replay", rec)
        first = live if fmt == ["--json"] else go(*fmt, "--replay", rec)
        if again != first:
            failures.append("%s %s: replay output differs" % (name, fmt))
    replayed = go("--json", "--replay", rec)
    if replayed != live:
        import difflib
        failures.append("%s: replayed JSON differs from the live run:\n%s" % (name, "".join(
            difflib.unified_diff(live.splitlines(True), replayed.splitlines(True), "live", "replay"))))
    print("%-28s %d calls recorded, %d findings" % (name, len(doc["calls"]), len(json.loads(live)["findings"])))

smtp = SmtpListener()
roundtrip("loopback-smtp", "127.0.0.1:%d" % smtp.port)
roundtrip("loopback-closed", "127.0.0.1:%d" % closed_port())
roundtrip("loopback-source", "127.0.0.1:%d" % smtp.port, extra=("--source-ip", "127.0.0.1"))
bad = SmtpListener(greeting=b"554 5.7.1 mx.test: Client host rejected: go away\r\n")
roundtrip("loopback-554", "127.0.0.1:%d" % bad.port)

# the lab, when it is up (never real domains)
here = os.path.dirname(os.path.abspath(__file__))
lab = os.path.join(here, "..", "lab", "lab")
netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
if "mxlab" in netns and os.access(lab, os.X_OK):
    for dom in ("healthy.test", "refused.test", "backup.test", "fourdrop.test", "reject554.test", "nullmx.test"):
        roundtrip("lab-" + dom, dom, extra=("--allow-reserved",), prefix=(lab, "exec"))
else:
    print("lab not up: lab domains skipped")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

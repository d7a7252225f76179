#!/usr/bin/env python3
"""The delivery rule's verdict is worked out once per pair of the facts it
reads (tcp.results, smtp.sessions: rules/30-delivery.lua) and reused by every
check of the run with that pair. Checks that share tcp.results but not
smtp.sessions must each get their own verdict: site test doubles of the tcp
and smtp rules (delivery_memo/) publish one sealed tcp.results for every
check, and smtp.sessions (a 554 greeting) for refused.test only; in one batch,
interleaved, refused.test must get delivery.none and plain.test delivery.ok.
No network: the doubles do no I/O."""
import json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run

mx = sys.argv[1]
rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delivery_memo")
failures = []
with tempfile.TemporaryDirectory() as tmp:
    lst = os.path.join(tmp, "d.txt")
    names = ["refused.test", "plain.test"] * 3
    open(lst, "w").write("".join(n + "\n" for n in names))
    p = run(mx, "--no-config", "batch", "--rules-dir", rules, "--only", "tcp,smtp,delivery", "-q",
            "--timeout", "2", lst, check_rc=(0, 1, 2, 3))
    out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    if len(out) != len(names):
        failures.append("%d lines for %d domains: %s" % (len(out), len(names), p.stderr[-500:]))
    want = {
        "refused.test": ("delivery.none", None),
        "plain.test": ("delivery.ok", "A most-preferred mail host accepts connections (mx.test[192.0.2.1])"),
    }
    for o in out:
        dom = o["target"]["domain"]
        got = [(f["code"], f["summary"], f["evidence"]) for f in o["findings"] if f["rule"] == "delivery"]
        code, summary = want[dom]
        if len(got) != 1 or got[0][0] != code or (summary and got[0][1] != summary):
            failures.append("%s: delivery findings %r, expected %s" % (dom, got, code))
        elif dom == "refused.test" and got[0][2].get("failed") != ["mx.test[192.0.2.1]: connected, but greeting 554"]:
            failures.append("%s: evidence %r" % (dom, got[0][2]))
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("delivery verdicts per pair of facts: ok")

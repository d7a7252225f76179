#!/usr/bin/env python3
"""A check's findings borrow the cached trees of sealed findings (bindings/l_report.c: without site
overrides a finding reported again is not copied into the check's arena, issue 21). The trees must
outlive the sealed table that made them while a check that borrowed them lives: the test double
(borrowed/) reports, in each check, the previous check's sealed finding (and a finding whose
evidence holds its sealed list), then drops that table and makes garbage enough for the collector
to finish it while the check still runs. Every check must show the previous check's finding
intact, with -P 1 and -P 2 (a Lua state each: a worker's first check has no previous one; a worker may get none). A
borrowed tree freed with its table crashes the run or garbles these lines (ASan: use after free).
No network: the double does no I/O."""
import json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run

mx = sys.argv[1]
rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "borrowed")
failures = []
names = ["b%02d.test" % i for i in range(12)]
with tempfile.TemporaryDirectory() as tmp:
    lst = os.path.join(tmp, "d.txt")
    open(lst, "w").write("".join(n + "\n" for n in names))
    for workers in ("1", "2"):
        p = run(mx, "--no-config", "batch", "--rules-dir", rules, "--only", "borrow-x", "-q", "-P", workers,
                "--timeout", "2", lst, check_rc=(0,))
        out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        if len(out) != len(names):
            failures.append("-P %s: %d lines for %d domains: %s" % (workers, len(out), len(names), p.stderr[-500:]))
        firsts = 0
        for o in out:
            me = o["target"]["input"]
            fs = [(f["summary"], f["evidence"]) for f in o["findings"] if f["rule"] == "borrow-x"]
            own = [("sealed finding of " + me, {"list": ["first " + me, "second"], "n": 1}),
                   ("evidence of " + me, {"list": ["first " + me, "second"], "n": 2})]
            if fs == own:
                firsts += 1  # a worker's first check
                continue
            prev = [s[len("sealed finding of "):] for s, _ in fs[:1] if s.startswith("sealed finding of ")]
            want = prev and [("sealed finding of " + prev[0], {"list": ["first " + prev[0], "second"], "n": 1}),
                             ("evidence of " + me, {"list": ["first " + prev[0], "second"], "n": 2})] + own
            if not prev or prev[0] not in names or prev[0] == me or fs != want:
                failures.append("-P %s %s: findings %r" % (workers, me, fs))
        if not 1 <= firsts <= int(workers) and len(out) == len(names):
            failures.append("-P %s: %d checks without a previous one (at most one per worker expected)" % (workers, firsts))
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Rules' deadlines within one check (one timer per check, armed for the
earliest deadline of its running rules):
- a rule with a shorter timeout that starts after one with a longer timeout
  is stopped at its own deadline, not at the other's (the rule waiting for
  it starts then, and the check ends with the longer deadline);
- a rule whose deadline comes while another rule's Lua code held the loop
  gets that time added (its deadline moves on) and finishes.
No network: the target is a documentation address no rule connects to."""
import json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, run, write_file as write

mx = sys.argv[1]
check = Checks()

def doc(p):
    for l in p.stdout.splitlines():
        if l.startswith("{"):
            return json.loads(l)
    return {}

tmp = tempfile.mkdtemp(prefix="mxdiag-deadlines-")
rules = os.path.join(tmp, "rules")
os.makedirs(rules)
lst = os.path.join(tmp, "list.yaml")
write(lst, "domains:\n  - 192.0.2.1\n")

# slow (2 s) starts first and publishes dl.go; quick (0.5 s) starts then;
# after starts when quick ends (it wants what quick never publishes) and
# takes 0.8 s. Right: quick stopped at 0.5 s, after done at 1.3 s, the check
# ends at 2 s with slow. Stopped only at slow's deadline: the check takes 2.8 s.
write(os.path.join(rules, "slow.lua"), r'''
return {
  id = "slow", description = "long deadline, started first", timeout = 2,
  provides = { "dl.go" }, codes = {},
  run = function(target, report)
    report:publish("dl.go", true)
    task.sleep(30)
  end,
}
''')
write(os.path.join(rules, "quick.lua"), r'''
return {
  id = "quick", description = "short deadline, started second", timeout = 0.5,
  requires = { "dl.go" }, provides = { "dl.quick" }, codes = {},
  run = function(target, report) task.sleep(30) end,
}
''')
write(os.path.join(rules, "after.lua"), r'''
return {
  id = "after", description = "starts when quick has ended", timeout = 5,
  wants = { "dl.quick" },
  codes = { ["after.done"] = "ok" },
  run = function(target, report)
    task.sleep(0.8)
    report:finding { code = "after.done", severity = "ok", summary = "after done" }
  end,
}
''')
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "slow,quick,after", "-j", "1",
        "--timeout", "1", lst)
d = doc(p)
fs = sorted((f["rule"], f["summary"]) for f in d.get("findings", []))
check(fs == [("after", "after done"),
             ("quick", "rule quick did not finish within its deadline of 0.5 s"),
             ("slow", "rule slow did not finish within its deadline of 2.0 s")],
      "each rule stopped by its own deadline, the waiting rule done: %r" % fs, p)
dur = d.get("duration_ms", 0)
check(1900 <= dur < 2500, "the short deadline came first (check duration %d ms, 2.8 s if it waited for the long one)" % dur, p)

# hog computes for 0.8 s without yielding while waiter (deadline 0.5 s)
# sleeps 0.3 s: waiter's deadline moves on by hog's time and it finishes
for f in ("slow.lua", "quick.lua", "after.lua"):
    os.remove(os.path.join(rules, f))
write(os.path.join(rules, "a_waiter.lua"), r'''
return {
  id = "waiter", description = "short deadline, the loop held by another rule", timeout = 0.5,
  codes = { ["waiter.done"] = "ok" },
  run = function(target, report)
    task.sleep(0.3)
    report:finding { code = "waiter.done", severity = "ok", summary = "waiter done" }
  end,
}
''')
write(os.path.join(rules, "b_hog.lua"), r'''
return {
  id = "hog", description = "computes for 0.8 s", timeout = 8,
  codes = { ["hog.done"] = "ok" },
  run = function(target, report)
    local t0 = os.clock()
    while os.clock() - t0 < 0.8 do end
    report:finding { code = "hog.done", severity = "ok", summary = "hog done" }
  end,
}
''')
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "waiter,hog", "-j", "1", "--timeout", "1", lst)
fs = sorted((f["rule"], f["summary"]) for f in doc(p).get("findings", []))
check(fs == [("hog", "hog done"), ("waiter", "waiter done")],
      "the other rule's computing time is not the waiting rule's: %r" % fs, p)

print("%d failed" % check.fails if check.fails else "all passed")
sys.exit(1 if check.fails else 0)

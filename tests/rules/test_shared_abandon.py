#!/usr/bin/env python3
"""shared.once when the check working a key out is stopped by its rule's
deadline: the checks waiting for that work (or asking for it later) are
released and work the key out themselves, instead of each waiting for its own
deadline and ending "unknown" too. One slow target must not take the others
down with it. With one worker (the task.event made by the stopped task is
released; task.wait returns false) and across `batch -P 2` workers (the key
the stopped task claimed in the process-wide store is given up).
No network: the targets are documentation addresses no rule connects to."""
import json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, run, write_file as write

mx = sys.argv[1]
check = Checks()

def summaries(p):
    out = {}
    for l in p.stdout.splitlines():
        if l.startswith("{"):
            d = json.loads(l)
            out[d["target"]["address"]] = [(f["code"], f["summary"]) for f in d.get("findings", [])]
    return out

tmp = tempfile.mkdtemp(prefix="mxdiag-abandon-")
rules = os.path.join(tmp, "rules")
os.makedirs(rules)
lst = os.path.join(tmp, "list.yaml")
write(lst, "domains:\n  - 192.0.2.1\n  - 192.0.2.2\n  - 192.0.2.3\n")

# --- one worker: 192.0.2.1 claims the key and is stopped at 1.5 s; the next
# checks (one at a time: -j 1) find its entry unfinished
write(os.path.join(rules, "slowshare.lua"), r'''
local shared = require("shared")
return {
  id = "slowshare", description = "work shared by checks; the first one is stopped by its deadline",
  timeout = 1.5,
  codes = { ["slowshare.value"] = "ok" },
  run = function(target, report)
    local me = target.address
    -- five keys first: the stopped task has made more events than a task keeps inline
    for i = 1, 5 do shared.once("pre" .. i, function() return i end) end
    local v = shared.once("k", function()
      if me == "192.0.2.1" then task.sleep(10) end
      return "worked out by " .. me
    end)
    report:finding { code = "slowshare.value", severity = "ok", summary = v }
  end,
}
''')
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "slowshare", "-j", "1", "--timeout", "1", lst)
s = summaries(p)
check(s.get("192.0.2.1") == [("rule.error", "rule slowshare did not finish within its deadline of 1.5 s")],
      "the check working the key out is stopped by its deadline: %r" % s.get("192.0.2.1"), p)
check(s.get("192.0.2.2") == [("slowshare.value", "worked out by 192.0.2.2")]
      and s.get("192.0.2.3") == [("slowshare.value", "worked out by 192.0.2.2")],
      "the next check works the key out itself, the one after reads its value: %r" % s, p)

# --- two workers: 192.0.2.1 (worker 1) claims the key in the process-wide
# store and is stopped at 1 s; 192.0.2.2 (worker 2, deadline 6 s) asked at
# 0.3 s and waits for it in the store
os.remove(os.path.join(rules, "slowshare.lua"))
write(os.path.join(rules, "owner.lua"), r'''
local shared = require("shared")
return {
  id = "owner", description = "claims the shared key, stopped by its deadline",
  timeout = 1,
  applies = function(target) return target.address == "192.0.2.1" end,
  codes = { ["owner.value"] = "ok" },
  run = function(target, report)
    local v = shared.once("k", function() task.sleep(10); return "worked out by the owner" end)
    report:finding { code = "owner.value", severity = "ok", summary = v }
  end,
}
''')
write(os.path.join(rules, "waiter.lua"), r'''
local shared = require("shared")
return {
  id = "waiter", description = "waits for the shared key in another worker",
  timeout = 6,
  applies = function(target) return target.address == "192.0.2.2" end,
  codes = { ["waiter.value"] = "ok" },
  run = function(target, report)
    task.sleep(0.3)
    local v = shared.once("k", function() return "worked out by the waiter" end)
    report:finding { code = "waiter.value", severity = "ok", summary = v }
  end,
}
''')
write(lst, "domains:\n  - 192.0.2.1\n  - 192.0.2.2\n")
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "owner,waiter", "-P", "2", "-j", "2",
        "--timeout", "1", lst)
s = summaries(p)
check(s.get("192.0.2.1") == [("rule.error", "rule owner did not finish within its deadline of 1.0 s")],
      "worker 1's owner is stopped by its deadline: %r" % s.get("192.0.2.1"), p)
check(s.get("192.0.2.2") == [("waiter.value", "worked out by the waiter")],
      "worker 2's waiter is released and works the key out: %r" % s.get("192.0.2.2"), p)
check("workers: 2" in p.stderr + p.stdout, "the run had two workers", p)

print("%d failed" % check.fails if check.fails else "all passed")
sys.exit(1 if check.fails else 0)

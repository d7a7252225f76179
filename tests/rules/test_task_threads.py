#!/usr/bin/env python3
"""The threads of finished tasks are reused for the next tasks
(bindings/rt_sched.c: kept in their slots, mx_task.spare): only a thread whose function returned,
and that no Lua code holds, may be. Each case fails when that rule is broken:
1. a thread a rule took with coroutine.running() stays its own: once its task
   has ended it is dead, never another task's (else the rule could resume
   another rule's task from a stale reference);
2. a task.all function that raised leaves a dead thread: the next task.all
   works (a reused errored thread: "cannot resume dead coroutine");
3. tasks stopped while they waited (their rule's deadline) leave threads
   that are never reused: the next check's task.all works and returns its
   own values (batch -j 1, the checks one after the other);
4. values a finished function returned are not seen by the next task on its
   thread (each task.all function sees an empty stack: select('#', ...) == 0).
5. task.all's results table (kept on the calling thread's stack while its
   functions run, or in the registry when task.all is called from a
   coroutine of the rule's own): each function's first result in its place
   (nil, sleeping, the empty list, an error among them), the caller's own
   locals untouched, from the task's thread and from a nested coroutine.
The CPU timer's hook on reused threads: rules.cpu_timer (cpu-reused).
No network: the rules call nothing but task.sleep."""
import json, os, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run

mx = sys.argv[1]
fails = 0


def check(ok, what, p=None):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails += 1
        if p is not None:
            print("stdout:", p.stdout[-3000:], "\nstderr:", p.stderr[-3000:])


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def findings(p):
    out = {}
    for l in p.stdout.splitlines():
        if l.startswith("{"):
            d = json.loads(l)
            out[d["target"]["address"]] = sorted((f["rule"], f["code"], f["summary"]) for f in d.get("findings", []))
    return out


tmp = tempfile.mkdtemp(prefix="mxdiag-threads-")
rules = os.path.join(tmp, "rules")
os.makedirs(rules)
lst = os.path.join(tmp, "list.txt")
write(lst, "192.0.2.1\n192.0.2.2\n192.0.2.3\n")

# 1. a held thread: its task ends, then a task.all whose first function
# sleeps (on whatever thread it is given) while the second looks at the held one
write(os.path.join(rules, "held.lua"), r'''
return {
  id = "held", description = "holds the thread of a finished task.all function",
  codes = { ["held.status"] = "ok" },
  run = function(target, report)
    local held
    task.all({ function() held = coroutine.running() end })  -- returns nothing: dead once done
    local seen
    task.all({ function() task.sleep(0.05); return 1 end,
               function() seen = coroutine.status(held) end })
    report:finding { code = "held.status", severity = "ok", summary = "held thread " .. seen }
  end,
}
''')
# 2. a function that raised, then more task.all calls
write(os.path.join(rules, "raised.lua"), r'''
return {
  id = "raised", description = "a task.all function raises; the next ones work",
  codes = { ["raised.result"] = "ok" },
  run = function(target, report)
    local ok, err = pcall(task.all, { function() error("boom", 0) end, function() error("bang", 0) end })
    local r = task.all({ function() return "a" end, function() return "b" end, function() return "c" end })
    report:finding { code = "raised.result", severity = "ok",
                     summary = tostring(ok) .. " " .. tostring(err):match("^[^\n]*") .. " " .. table.concat(r, ",") }
  end,
}
''')
# 4. what the next task on a thread sees
write(os.path.join(rules, "clean.lua"), r'''
return {
  id = "clean", description = "a reused thread starts with nothing on it",
  codes = { ["clean.args"] = "ok" },
  run = function(target, report)
    task.all({ function() return 1, 2, 3 end, function() return "x", "y" end })
    local r = task.all({ function(...) return select("#", ...) end, function(...) return select("#", ...) end })
    report:finding { code = "clean.args", severity = "ok", summary = "args " .. r[1] .. " " .. r[2] }
  end,
}
''')
# held alone: the thread its first task.all leaves is the only one to reuse
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "held", "-j", "1", "--timeout", "1", lst)
f = findings(p)
for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
    check(f.get(a) == [("held", "held.status", "held thread dead")],
          "%s: a thread coroutine.running() handed out is never another task's: %r" % (a, f.get(a)), p)
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "held,raised,clean", "-j", "1", "--timeout", "1", lst)
f = findings(p)
for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
    check(f.get(a) == [("clean", "clean.args", "args 0 0"),
                       ("held", "held.status", "held thread dead"),
                       ("raised", "raised.result", "false boom a,b,c")],
          "%s: held thread dead, task.all after an error works, reused threads start empty: %r" % (a, f.get(a)), p)

# 3. the first check's rule is stopped by its deadline while its task.all
# functions wait; the next checks' task.all calls run on what is left
os.remove(os.path.join(rules, "held.lua"))
os.remove(os.path.join(rules, "raised.lua"))
os.remove(os.path.join(rules, "clean.lua"))
write(os.path.join(rules, "stopped.lua"), r'''
return {
  id = "stopped", description = "the first check's task.all functions are stopped while they sleep",
  timeout = 1,
  codes = { ["stopped.result"] = "ok" },
  run = function(target, report)
    local me = target.address
    local r = task.all({ function() if me == "192.0.2.1" then task.sleep(10) end return me end,
                         function() if me == "192.0.2.1" then task.sleep(10) end return "b" end })
    -- threads of finished functions come back for the next call
    local s = task.all({ function() task.sleep(0.01) return r[1] end, function() return r[2] end })
    report:finding { code = "stopped.result", severity = "ok", summary = s[1] .. " " .. s[2] }
  end,
}
''')
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "stopped", "-j", "1", "--timeout", "1", lst)
f = findings(p)
check(f.get("192.0.2.1") == [("stopped", "rule.error", "rule stopped did not finish within its deadline of 1.0 s")],
      "the first check's rule is stopped by its deadline: %r" % f.get("192.0.2.1"), p)
check(f.get("192.0.2.2") == [("stopped", "stopped.result", "192.0.2.2 b")]
      and f.get("192.0.2.3") == [("stopped", "stopped.result", "192.0.2.3 b")],
      "the next checks' task.all calls work: %r" % f, p)

# 5. results in their places: on the task's own thread and from a coroutine
os.remove(os.path.join(rules, "stopped.lua"))
write(os.path.join(rules, "places.lua"), r'''
local function all(tag)
  local a, b = "local-a", "local-b"
  local r = task.all({ function() task.sleep(0.02) return tag .. "1" end,
                       function() return nil end,
                       function() return tag .. "3", "ignored" end,
                       function() task.sleep(0.01) return 4 end })
  local e = task.all({})
  local ok, err = pcall(task.all, { function() return "x" end, function() error("boom", 0) end })
  local after = task.all({ function() return "after" end })
  return string.format("%s %s %s %s %s #%d #e%d %s %s %s %s", a, b, tostring(r[1]), tostring(r[2]), tostring(r[3]),
    r[4], #e, tostring(ok), (tostring(err):match("[^\n]*")), after[1], tag)
end
return {
  id = "places", description = "task.all results in their places",
  codes = { ["places.own"] = "ok", ["places.nested"] = "ok" },
  run = function(target, report)
    report:finding { code = "places.own", severity = "ok", summary = all("o") }
    local co = coroutine.wrap(function() return all("n") end)
    report:finding { code = "places.nested", severity = "ok", summary = co() }
  end,
}
''')
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "places", "-j", "2", "--timeout", "1", lst)
f = findings(p)
want = lambda t: "local-a local-b %s1 nil %s3 #4 #e0 false boom after %s" % (t, t, t)
for a in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
    check(f.get(a) == [("places", "places.nested", want("n")), ("places", "places.own", want("o"))],
          "%s: task.all results in their places, own thread and nested coroutine: %r" % (a, f.get(a)), p)

if fails:
    sys.exit(1)
print("ok")

#!/usr/bin/env python3
"""The CPU timer that gives a computing task the count hook (bindings/rt_sandbox.c,
"CPU timer"): where tests/rules/sandbox (rules.sandbox) has one check in the
main thread, this covers the other ways rules run. Each case is a busy loop
that must end as one rule.error (budget or deadline) in bounded time, with a
healthy rule beside it still reporting:
1. a run-level rule (scope = "run": a check of its own);
2. batch -P 2: two worker threads, each with its own runtime and timer;
3. a parent that blocks the timer's signal (SIGURG): each thread running
   rules unblocks it;
4. no timer (MXDIAG_TEST_NO_CPU_TIMER with --allow-env, as when
   timer_create fails): tasks keep the count hook from the start, as before
   the timer.
In each, one loop runs on the reused thread of a finished task.all function.
No network: the rules call nothing but task.sleep."""
import json, os, signal, subprocess, sys, tempfile, time

MX = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="mxdiag-cputimer-")
LIMIT = 120  # seconds; a loop the timer misses never ends
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


RULES = {
    "cpu-loop": ('codes = { ["cpu.loop"] = "ok" },',
                 "while true do end"),
    "cpu-task-all": ('codes = { ["cpu.taskall"] = "ok" },',
                     "task.all({ function() return 1 end, function() while true do end end })"),
    "cpu-nested": ('codes = { ["cpu.nested"] = "ok" },',
                   "coroutine.wrap(function() local co = coroutine.create(function() while true do end end)\n"
                   "      return coroutine.resume(co) end)()"),
    # the loop runs on a thread reused from the first task.all's finished
    # functions (rt_sched.c's pool): it must get the hook as a new one would
    "cpu-reused": ('codes = { ["cpu.reused"] = "ok" },',
                   "task.all({ function() return 1 end, function() return 2 end })\n"
                   "    task.all({ function() while true do end end })"),
    "cpu-run": ('scope = "run", codes = { ["cpu.run"] = "ok" },',
                "task.sleep(0)\n    while true do end"),
    "cpu-healthy": ('codes = { ["cpu.healthy"] = "ok" },',
                    'task.sleep(0.05)\n    report:finding { code = "cpu.healthy", summary = "still ran" }'),
}
D = os.path.join(TMP, "rules")
os.makedirs(D)
for rid, (decl, body) in RULES.items():
    with open(os.path.join(D, rid + ".lua"), "w") as f:
        f.write('return { id = "%s", description = "CPU timer test", %s\n'
                '  run = function(target, report)\n    %s\n  end }\n' % (rid, decl, body))
LOOPS = ["cpu-loop", "cpu-task-all", "cpu-nested", "cpu-reused"]
ONLY = ",".join(LOOPS + ["cpu-run", "cpu-healthy"])


def mx(args, env=None, preexec=None):
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.time()
    # as root, MXDIAG_* variables are dropped without --allow-env
    try:
        p = subprocess.run([MX, "--no-config"] + (["--allow-env"] if env else []) + args, capture_output=True, text=True, timeout=LIMIT,
                           env=e, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        return None, LIMIT
    return p, time.time() - t0


def stopped(findings, rid):
    fs = [f for f in findings if f["rule"] == rid]
    return len(fs) == 1 and fs[0]["code"] == "rule.error" and \
        ("instruction budget exceeded" in fs[0]["summary"] or "deadline exceeded" in fs[0]["summary"])


def one_check(what, env=None, preexec=None):
    p, dt = mx(["check", "127.0.0.1:9", "--json", "--timeout", "2", "--rules-dir", D, "--only", ONLY],
               env, preexec)
    if p is None:
        check(False, "%s: did not end in %d s" % (what, LIMIT))
        return
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        check(False, "%s: no JSON (exit %d): %s" % (what, p.returncode, p.stderr[-400:]))
        return
    for rid in LOOPS:
        check(stopped(doc["findings"], rid), "%s: %s ends as rule.error (budget or deadline)" % (what, rid))
    check(stopped(doc.get("run", {}).get("findings", []), "cpu-run"),
          "%s: the run-level rule's loop ends as rule.error" % what)
    check(any(f["code"] == "cpu.healthy" for f in doc["findings"]), "%s: the healthy rule still reports" % what)
    print("   (%.1f s)" % dt)


# 1. run-level rule beside the target's, timer on
one_check("check")

# 2. batch -P 2: per-thread runtimes and timers
lst = os.path.join(TMP, "list.txt")
open(lst, "w").write("".join("127.0.0.%d:9\n" % i for i in range(1, 5)))
p, dt = mx(["batch", "--plain", lst, "-P", "2", "-j", "2", "--timeout", "2", "-q", "--rules-dir", D,
            "--only", ",".join(LOOPS + ["cpu-healthy"])])
if p is None:
    check(False, "batch -P 2: did not end in %d s" % LIMIT)
else:
    docs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    check(len(docs) == 4, "batch -P 2: 4 results (got %d)" % len(docs))
    for d in docs:
        for rid in LOOPS:
            check(stopped(d["findings"], rid), "batch -P 2, %s: %s ends as rule.error" % (d.get("target", d.get("input", "?")), rid))
    print("   (%.1f s)" % dt)


# 3. the signal blocked by the parent (inherited mask)
def block_sigurg():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG})


one_check("SIGURG blocked by the parent", preexec=block_sigurg)

# 4. no timer: the count hook from the start (with a handler that does
# nothing, 1-3 never end and this one still passes)
one_check("no CPU timer", env={"MXDIAG_TEST_NO_CPU_TIMER": "1"})

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

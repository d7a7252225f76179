#!/usr/bin/env python3
"""When rules start, are skipped, or are found waiting on each other
(bindings/rt_checks.c, rt_advance), seen from a check's rules array:
1. a rule whose required fact came starts (after its provider published,
   while that provider still runs);
2. a rule whose required fact can no longer come (its only provider ended
   without publishing it) is skipped, with the fact's sentence;
3. a rule wanting a fact starts once its provider ended without it;
4. two rules requiring each other's facts never start: each ends as a
   rule.error "never started ... cycle", and only once no rule runs any more
   (a third rule still sleeping when the check starts must first end);
5. a cycle through wants alone does not hold the rules back for ever either.
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


tmp = tempfile.mkdtemp(prefix="mxdiag-advance-")
rules = os.path.join(tmp, "rules")
os.makedirs(rules)
RULES = {
    # publishes adv.early at once, sleeps, ends without adv.never
    "adv-src": ('provides = { "adv.early", "adv.never" }',
                'report:publish("adv.early", { v = 1 })\n    task.sleep(0.1)'),
    "adv-early": ('requires = { "adv.early" }', 'report:finding { code = "adv.early", severity = "ok", summary = "started" }'),
    "adv-never": ('requires = { "adv.never" }', 'report:finding { code = "adv.never", severity = "ok", summary = "started" }'),
    "adv-want": ('wants = { "adv.never" }', 'report:finding { code = "adv.want", severity = "ok", summary = "started" }'),
    # a cycle of requires, and one of wants
    "adv-a": ('requires = { "adv.b" }, provides = { "adv.a" }', 'report:finding { code = "adv.a", severity = "ok", summary = "started" }'),
    "adv-b": ('requires = { "adv.a" }, provides = { "adv.b" }', 'report:finding { code = "adv.b", severity = "ok", summary = "started" }'),
    "adv-wa": ('wants = { "adv.wb" }, provides = { "adv.wa" }', 'report:finding { code = "adv.wa", severity = "ok", summary = "started" }'),
    "adv-wb": ('wants = { "adv.wa" }, provides = { "adv.wb" }', 'report:finding { code = "adv.wb", severity = "ok", summary = "started" }'),
}
for rid, (decl, body) in RULES.items():
    with open(os.path.join(rules, rid + ".lua"), "w") as f:
        f.write('return { id = "%s", description = "advance test", %s,\n'
                '  codes = { ["%s"] = "ok" },\n'
                '  run = function(target, report)\n    %s\n  end }\n' % (rid, decl, rid.replace("-", "."), body))

only = ",".join(RULES)
p = run(mx, "check", "192.0.2.1", "--json", "--no-config", "--rules-dir", rules, "--only", only, "--timeout", "2")
doc = json.loads(p.stdout)
st = {r["id"]: (r["status"], r.get("reason")) for r in doc["rules"] if r["id"].startswith("adv-")}
codes = sorted((f["rule"], f["code"], f["summary"]) for f in doc["findings"])
check(st.get("adv-src") == ("done", None) and st.get("adv-early") == ("done", None)
      and ("adv-early", "adv.early", "started") in codes, "a required fact published: its rule starts: %r" % st, p)
check(st.get("adv-never") == ("skipped", "fact 'adv.never' is not available for this target"),
      "a required fact that can no longer come: skipped: %r" % (st.get("adv-never"),), p)
check(st.get("adv-want") == ("done", None) and ("adv-want", "adv.want", "started") in codes,
      "a wanted fact that can no longer come: the rule starts anyway: %r" % (st.get("adv-want"),), p)
for r in ("adv-a", "adv-b"):
    check(st.get(r) == ("failed", "dependency cycle")
          and ((r, "rule.error", "rule %s never started: its requires/wants form a cycle with other rules" % r) in codes),
          "%s: a cycle of requires: rule.error, once nothing runs: %r" % (r, st.get(r)), p)
check(st.get("adv-wa", ("",))[0] in ("done", "failed") and st.get("adv-wb", ("",))[0] in ("done", "failed"),
      "a cycle of wants: both rules end: %r %r" % (st.get("adv-wa"), st.get("adv-wb")), p)
check(p.returncode in (0, 1, 2, 3) and doc["status"] == "unknown", "the check ends (status unknown: the cycle's rule.errors)", p)

if fails:
    sys.exit(1)
print("ok")

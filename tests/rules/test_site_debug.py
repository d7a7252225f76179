#!/usr/bin/env python3
"""Issue 20's pitfalls for site-rule authors, each with the new behaviour:
report:debug, tables in evidence in full, module tables naming what exists,
load-time errors with file:line / rule id / did-you-mean, a helper file in the
rules directory, duplicate site ids, broken rules visible (text, batch
summary, --strict-rules), rules check, and rule tests that cannot pass by
accident (rules loaded from above the test, unknown ids, missing calls named,
partial evidence, expected skips, --record, dns.servers() in a replay).
No network: every check selects only site rules that make no call, or replays."""
import json, os, shutil, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run
mx = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="mxdiag-sitedebug-")

def rules_dir(name, files):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    for fn, text in files.items():
        p = os.path.join(d, fn)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write(text)
    return d

def rule(rid, body, codes=None, extra=""):
    codes = codes or {rid + ".seen": "info"}
    cs = ", ".join('["%s"] = "%s"' % kv for kv in codes.items())
    return 'return {\n  id = "%s",\n  description = "test rule",\n  codes = {%s},\n%s  run = function(target, report)\n%s\n  end,\n}\n' % (rid, cs, extra, body)

T = "example.invalid"

# --- report:debug: shown by --trace, kept in rules[].debug; tables in full
d = rules_dir("debug", {"a.lua": rule("site.dbg", '    report:debug("seen", {a = {1, 2}, b = {c = "d"}}, 7)\n'
                                     '    report:finding{code = "site.dbg.seen", summary = "s", evidence = {nested = {x = {1, 2}, y = {z = "w"}}}}')})
p = run(mx, "check", "--rules-dir", d, "--only", "site.dbg", "--trace", "-vv", T, check_rc=[0])
assert 'debug site.dbg: seen {"a":[1,2],"b":{"c":"d"}} 7' in p.stderr, p.stderr
# -vv shows evidence, nested tables in full (the default output shows no evidence)
assert 'nested: (x 1, 2, y (z w))' in p.stdout, "a table in evidence must be rendered in full:\n" + p.stdout
doc = json.loads(run(mx, "check", "--rules-dir", d, "--only", "site.dbg", "--json", T).stdout)
r = next(x for x in doc["rules"] if x["id"] == "site.dbg")
assert r["debug"] == ['seen {"a":[1,2],"b":{"c":"d"}} 7'], r
p = run(mx, "check", "--rules-dir", d, "--only", "site.dbg", T)
assert "debug" not in p.stdout and "debug" not in p.stderr, "debug lines only with --trace"

# --- a module answers an unknown function with the ones it has, at the rule's line
d = rules_dir("modmiss", {"a.lua": rule("site.mod", '    local x = dns.lookup("x")')})
p = run(mx, "check", "--rules-dir", d, "--only", "site.mod", "--json", T)
f = next(x for x in json.loads(p.stdout)["findings"] if x["code"] == "rule.error")
assert "dns.lookup does not exist; dns has: ptr, query, reverse_name, servers, valid_name" in f["evidence"]["error"], f
assert f["evidence"]["line"] == 6, f

# --- a misspelled report:finding field at run time: did you mean
d = rules_dir("ftypo", {"a.lua": rule("site.ftypo", '    report:finding{code = "site.ftypo.seen", sumary = "x"}')})
p = run(mx, "check", "--rules-dir", d, "--only", "site.ftypo", "--json", T)
f = next(x for x in json.loads(p.stdout)["findings"] if x["code"] == "rule.error")
assert "report:finding: unknown field 'sumary' (did you mean 'summary'?)" in f["summary"], f

# --- a misspelled rule field: file:line, rule id, did you mean
d = rules_dir("typo", {"a.lua": rule("site.typo", "", extra='  requirs = {"mx.hosts"},\n')})
p = run(mx, "rules", "list", "--rules-dir", d, check_rc=[3])
assert "a.lua:5: rule 'site.typo': unknown field 'requirs' in rule table (did you mean 'requires'?)" in p.stderr, p.stderr

# --- a helper file among the rules: move it to lib/
d = rules_dir("helper", {"helpers.lua": "local M = {}\nfunction M.greet() return 1 end\nreturn M\n"})
p = run(mx, "rules", "list", "--rules-dir", d, check_rc=[3])
assert "not a rule" in p.stderr and "move it to %s/lib/helpers.lua" % d in p.stderr and 'require("helpers")' in p.stderr, p.stderr
os.makedirs(os.path.join(d, "lib"))
os.rename(os.path.join(d, "helpers.lua"), os.path.join(d, "lib", "helpers.lua"))
open(os.path.join(d, "use.lua"), "w").write(rule("site.use", '    local h = require("helpers")\n    report:finding{code = "site.use.seen", summary = "greet " .. h.greet()}'))
p = run(mx, "check", "--rules-dir", d, "--only", "site.use", T, check_rc=[0])
assert "greet 1" in p.stdout, p.stdout

# --- two site rules with one id: an error naming both; replacing a shipped rule is said in --trace
d = rules_dir("dup", {"a.lua": rule("site.dup", ""), "b.lua": rule("site.dup", "")})
p = run(mx, "rules", "list", "--rules-dir", d, check_rc=[3])
assert "rule id 'site.dup' is declared twice, in %s/a.lua and in %s/b.lua" % (d, d) in p.stderr, p.stderr
d = rules_dir("replace", {"mx.lua": rule("mx", '    report:finding{code = "site.mine.seen", summary = "mine"}', {"site.mine.seen": "info"})})
p = run(mx, "check", "--rules-dir", d, "--only", "mx", "--trace", T)
assert "site rule mx (%s/mx.lua) replaces the shipped rule with the same id" % d in p.stderr, p.stderr

# --- a broken site rule is visible beside a CRITICAL, in the batch summary, and fails with --strict-rules
d = rules_dir("broken", {
    "crit.lua": rule("site.crit", '    report:finding{code = "site.crit.bad", summary = "bad"}', {"site.crit.bad": "crit"}),
    "err.lua": rule("site.err", '    error("boom")'),
    "skip.lua": rule("site.skip", "", extra='  requires = {"smtp.sessions"},\n'),
})
sel = "site.crit,site.err,site.skip"
NOSMTP = ["--skip", "smtp", "--resolver", "127.0.0.1:9"]  # the provider left out: no call leaves the machine
p = run(mx, "check", "--rules-dir", d, "--only", sel, *NOSMTP, T, check_rc=[2])
assert "Site rules that reached no verdict:" in p.stdout, p.stdout
assert "site.err failed: error (%s/err.lua:6; rule.error above)" % d in p.stdout, p.stdout
assert "site.skip skipped: fact 'smtp.sessions' is not available for this target" in p.stdout, p.stdout
p = run(mx, "check", "--rules-dir", d, "--only", "site.err,site.skip", *NOSMTP, T, check_rc=[3])
p = run(mx, "check", "--rules-dir", d, "--only", "site.skip", *NOSMTP, T, check_rc=[0])
p = run(mx, "check", "--rules-dir", d, "--only", "site.skip", *NOSMTP, "--strict-rules", T, check_rc=[3])
lst = os.path.join(tmp, "list.txt")
open(lst, "w").write(T + "\n")
p = run(mx, "batch", "--rules-dir", d, "--only", sel, *NOSMTP, "--format", "summary", lst, check_rc=[2])
assert "site rules that reached no verdict: in 1 check" in p.stdout, p.stdout
assert "example.invalid: site.skip skipped: fact 'smtp.sessions'" in p.stdout, p.stdout
p = run(mx, "batch", "--rules-dir", d, "--only", "site.skip", *NOSMTP, "--strict-rules", "--format", "summary", lst, check_rc=[3])
assert "--strict-rules: the run fails" in p.stdout, p.stdout

# --- rules check: lint with file:line
d = rules_dir("lint", {"a.lua": rule("site.lint",
    '    local s = target.facts["smtp.sesions"]\n'
    '    report:finding{code = "site.lint.seen", sumary = "typo"}\n'
    '    report:finding{code = "site.lint.other", summary = "x"}')})
p = run(mx, "rules", "check", d, check_rc=[1])
a = os.path.join(d, "a.lua")
for want in ["%s:6: fact 'smtp.sesions' is published by no loaded rule" % a,
             "%s:7: report:finding: unknown field 'sumary' (did you mean 'summary'?)" % a,
             "%s:8: code 'site.lint.other' is not declared" % a, "3 problems found"]:
    assert want in p.stdout, want + "\n" + p.stdout
run(mx, "rules", "check", rules_dir("clean", {"a.lua": rule("site.clean", '    report:finding{code = "site.clean.seen", summary = "x"}')}), check_rc=[0])

# --- rule tests: a new test in one step, loaded from above when run alone
rd = rules_dir("suite", {"srv.lua": rule("site.srv", '    report:finding{code = "site.srv.seen", summary = "servers " .. dns.servers(), evidence = {servers = dns.servers(), n = 3, deep = {k = "v", other = 1}}}')})
t = os.path.join(rd, "tests", "one")
os.makedirs(os.path.dirname(t))
p = run(mx, "rules", "test", "--record", t, "--", "check", "--rules-dir", rd, "--only", "site.srv", "--resolver", "127.0.0.1:5399", T, check_rc=[0])
assert "PASS" in p.stdout, p.stdout
exp = json.load(open(os.path.join(t, "expect.json")))
assert exp["rules"] == ["site.srv"] and "rules_dirs" not in exp, exp
# dns.servers() in a replay is the recorded resolver, not "(replay)"
assert exp["findings"][0]["summary"] == "servers 127.0.0.1:5399", exp
p = run(mx, "rules", "test", t, check_rc=[0])          # alone: the rules above it are loaded
assert "PASS" in p.stdout, p.stdout
# a misspelled rule id in expect.json fails, naming it
bad = dict(exp, rules=["site.svr"], findings=[])
json.dump(bad, open(os.path.join(t, "expect.json"), "w"))
p = run(mx, "rules", "test", t, check_rc=[1])
assert "expect.json names rules that are not loaded: site.svr" in p.stdout, p.stdout
# evidence matched partially: the fields named must match, others are ignored
good = dict(exp, findings=[dict(exp["findings"][0], evidence={"n": 3, "deep": {"k": "v"}})])
json.dump(good, open(os.path.join(t, "expect.json"), "w"))
run(mx, "rules", "test", t, check_rc=[0])
wrong = dict(exp, findings=[dict(exp["findings"][0], evidence={"deep": {"k": "x"}})])
json.dump(wrong, open(os.path.join(t, "expect.json"), "w"))
p = run(mx, "rules", "test", t, check_rc=[1])
assert '- site.srv site.srv.seen info: servers 127.0.0.1:5399  evidence {"deep":{"k":"x"}}' in p.stdout, p.stdout
assert '+ site.srv site.srv.seen info: servers 127.0.0.1:5399  evidence {"deep":{"k":"v"}}' in p.stdout, p.stdout
json.dump(exp, open(os.path.join(t, "expect.json"), "w"))
# a call the recording lacks is named (rule, call, arguments) and fails the test
src = open(os.path.join(rd, "srv.lua")).read()
open(os.path.join(rd, "srv.lua"), "w").write(src.replace("    report:finding", '    dns.query("new.example.invalid", "A")\n    report:finding', 1))
p = run(mx, "rules", "test", t, check_rc=[1])
assert 'site.srv: dns.query {"name":"new.example.invalid","type":"A"}' in p.stdout, p.stdout
open(os.path.join(rd, "srv.lua"), "w").write(src)
# an expected skip, with its reason; an unexpected one fails (the runner is strict)
open(os.path.join(rd, "needs.lua"), "w").write(rule("site.needs", "", extra='  requires = {"smtp.sessions"},\n'))
t2 = os.path.join(rd, "tests", "skip")
run(mx, "rules", "test", "--record", t2, "--", "check", "--rules-dir", rd, "--only", "site.srv,site.needs", "--skip", "smtp", "--resolver", "127.0.0.1:9", T)
e2 = json.load(open(os.path.join(t2, "expect.json")))
p = run(mx, "rules", "test", t2, check_rc=[1])
assert "site rule site.needs skipped: fact 'smtp.sessions' is not available for this target (not expected in expect.json)" in p.stdout, p.stdout
e2["skipped"] = [{"rule": "site.needs", "reason": "fact 'smtp.sessions' is not available"}]
json.dump(e2, open(os.path.join(t2, "expect.json"), "w"))
run(mx, "rules", "test", t2, check_rc=[0])
e2["skipped"] = [{"rule": "site.srv", "reason": "x"}]
json.dump(e2, open(os.path.join(t2, "expect.json"), "w"))
p = run(mx, "rules", "test", t2, check_rc=[1])
assert "rule site.srv: expected skipped, got done" in p.stdout, p.stdout
# -v shows report:debug lines
open(os.path.join(rd, "srv.lua"), "w").write(src.replace("    report:finding", '    report:debug("hello", {1})\n    report:finding', 1))
p = run(mx, "rules", "test", "-v", t, check_rc=[0])
assert "debug site.srv: hello [1]" in p.stdout, p.stdout
shutil.rmtree(tmp)
print("ok")

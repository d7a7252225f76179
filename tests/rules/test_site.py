#!/usr/bin/env python3
"""Site settings without copies (issue 20): rule options (schema, sources,
precedence, errors with "did you mean", read-only and private to their rule),
overrides (severity/wording per domain, said in the evidence, recorded for
replay, load-time warnings), run-level rules (once per run, in the check's
`run` part and the batch summary, never in a domain's status) and
`mxdiag rules facts`. Offline: --only keeps the network rules out, and the
run-level rule asks a resolver on a closed loopback port."""
import json, os, shutil, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, closed_port

mx = sys.argv[1]
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tmp = tempfile.mkdtemp(prefix="mxdiag-site-")
fails = []

def check(cond, what, p=None):
    if not cond:
        fails.append(what + ("" if p is None else "\n  rc=%d\n  stdout=%s\n  stderr=%s" % (p.returncode, p.stdout[-1500:], p.stderr[-1500:])))

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)

rules = os.path.join(tmp, "rules")
write(os.path.join(rules, "partner.lua"), r'''
return {
  id = "partner", description = "partner options",
  options = { contacts = "table", max_greeting_ms = "number", name = "string", strict = "boolean", tries = "integer" },
  codes = { ["partner.seen"] = "info" },
  run = function(target, report)
    local o = report.options
    local wrote = pcall(function() o.name = "x" end)
    local nested = o.contacts and pcall(function() o.contacts[1] = "x" end)
    report:finding { code = "partner.seen", summary = "partner options",
      evidence = { ms = o.max_greeting_ms, name = o.name, strict = o.strict, tries = o.tries,
                   contacts = o.contacts and table.concat(o.contacts, ",") or nil,
                   wrote = wrote, nested_wrote = nested or false,
                   in_target = target.options.rule_options ~= nil } }
  end,
}
''')
write(os.path.join(rules, "other.lua"), r'''
return {
  id = "other", description = "sees only its own options", options = { level = "integer" },
  codes = { ["other.seen"] = "info" },
  run = function(target, report)
    local n = 0
    for k in pairs(report.options) do n = n + 1 end
    report:finding { code = "other.seen", summary = "other", evidence = { count = n, partner = report.options.name } }
  end,
}
''')
base = ["check", "--no-config", "--rules-dir", rules, "--only", "partner,other", "--json"]

def findings(p):
    return {f["code"]: f for f in json.loads(p.stdout)["findings"]}

# --- rule options from the command line, converted by the declared type
p = run(mx, *base, "192.0.2.1", "--rule-arg", "partner.max_greeting_ms=2000", "--rule-arg", "partner.name=bob",
        "--rule-arg", "partner.strict=yes", "--rule-arg", 'partner.contacts=["ops@partner.test","noc@partner.test"]',
        "--rule-arg", "partner.tries=3")
check(p.returncode == 0, "check with --rule-arg", p)
if p.returncode == 0:
    f = findings(p)
    ev = f["partner.seen"]["evidence"]
    check(ev.get("ms") == 2000 and ev.get("name") == "bob" and ev.get("strict") is True and ev.get("tries") == 3
          and ev.get("contacts") == "ops@partner.test,noc@partner.test", "options typed as declared: %r" % ev)
    check(ev.get("wrote") is False and ev.get("nested_wrote") is False, "report.options is read-only: %r" % ev)
    check(ev.get("in_target") is False, "rule options are not in target.options")
    oev = f["other.seen"]["evidence"]
    check(oev.get("count") == 0 and "partner" not in oev, "another rule sees none of partner's options: %r" % oev)

# --- errors, each naming the problem
for args, want in [
    (["--rule-arg", "partnr.name=x"], "no rule 'partnr' is loaded (did you mean 'partner'?)"),
    (["--rule-arg", "partner.nmae=x"], "has no option 'nmae' (did you mean 'name'?)"),
    (["--rule-arg", "partner.max_greeting_ms=soon"], "'soon' is not a number"),
    (["--rule-arg", "partner.tries=2.5"], "is not an integer"),
    (["--rule-arg", "partner.strict=maybe"], "is not true or false"),
    (["--rule-arg", "partner.contacts=[oops"], "given as JSON text"),
    (["--rule-arg", "mx.timeout=3"], "rule 'mx' declares no options"),
    (["--rule-arg", "partner-name"], "is not RULE_ID.OPTION=VALUE"),
]:
    p = run(mx, *base, "192.0.2.1", *args)
    check(p.returncode == 3 and want in p.stderr, "%s: exit 3 with %r" % (args, want), p)

# --- a bad schema is a load error naming file and field
bad = os.path.join(tmp, "badrules")
write(os.path.join(bad, "b.lua"), 'return { id = "b", description = "d", options = { n = "int" }, codes = {}, run = function() end }\n')
p = run(mx, "check", "--no-config", "--rules-dir", bad, "--only", "b", "192.0.2.1")
check(p.returncode == 3 and "b.lua: rule 'b': options: 'n' must map to a type" in p.stderr, "bad options schema", p)
write(os.path.join(bad, "b.lua"), 'return { id = "b", description = "d", scope = "domain", codes = {}, run = function() end }\n')
p = run(mx, "check", "--no-config", "--rules-dir", bad, "--only", "b", "192.0.2.1")
check(p.returncode == 3 and "field 'scope' must be" in p.stderr, "bad scope", p)

# --- the configuration file: typed values, checked the same; the command line wins per option
cfg = os.path.join(tmp, "mxdiag.yaml")
cfgbase = ["check", "--config", cfg] + base[2:]
write(cfg, "rule_options:\n  partner:\n    max_greeting_ms: 1500\n    name: from-config\n    contacts: [a@partner.test]\n")
p = run(mx, *cfgbase, "192.0.2.1",
        "--rule-arg", "partner.name=from-cli")
check(p.returncode == 0, "config rule_options", p)
if p.returncode == 0:
    ev = findings(p)["partner.seen"]["evidence"]
    check(ev.get("ms") == 1500 and ev.get("name") == "from-cli" and ev.get("contacts") == "a@partner.test",
          "config options, command line wins: %r" % ev)
write(cfg, "rule_options:\n  partner:\n    max_greeting_ms: soon\n")
p = run(mx, *cfgbase, "192.0.2.1")
check(p.returncode == 3 and "'partner.max_greeting_ms' must be a number, not a string" in p.stderr, "config wrong type", p)
write(cfg, "rule_options:\n  partner: 3\n")
p = run(mx, *cfgbase, "192.0.2.1")
check(p.returncode == 3 and "rule_options" in p.stderr, "config rule_options not a map of maps", p)

# --- overrides: severity and wording for some domains, said in the evidence
write(cfg, "overrides:\n  - code: partner.seen\n    severity: crit\n    domains: [partner.test]\n    summary: partner checked\n"
           "  - code: other.seen\n    severity: ok\n")
for target, sev, summary in [("partner.test:25", "crit", "partner checked"), ("mx.partner.test:25", "info", "partner options"),
                             ("elsewhere.test:25", "info", "partner options")]:
    p = run(mx, *cfgbase, target)
    check(p.returncode in (0, 2), "overrides on %s" % target, p)
    if p.returncode in (0, 2):
        f = findings(p)
        check(f["partner.seen"]["severity"] == sev and f["partner.seen"]["summary"] == summary,
              "%s: partner.seen %s/%s, got %r" % (target, sev, summary, f["partner.seen"]))
        so = f["partner.seen"]["evidence"].get("site_override")
        check((so == "severity raised by site override (info -> crit); summary replaced by site override") == (sev == "crit"),
              "%s: evidence site_override %r" % (target, so))
        check(f["other.seen"]["severity"] == "ok" and "lowered" in f["other.seen"]["evidence"].get("site_override", ""),
              "an override without domains applies everywhere, lowering said: %r" % f["other.seen"])
write(cfg, "overrides:\n  - code: partner.seen\n    severity: crit\n    domains: ['*.partner.test']\n")
p = run(mx, *cfgbase, "mx.partner.test:25")
check(p.returncode == 2 and findings(p)["partner.seen"]["severity"] == "crit", "*.domain matches subdomains", p)
for text, want in [("overrides:\n  - code: partner.seen\n    severity: critical\n", "severity 'critical' is not one of"),
                   ("overrides:\n  - code: partner.seen\n    sevrity: crit\n", "unknown key 'sevrity' (did you mean 'severity'?)"),
                   ("overrides:\n  - code: partner.seen\n", "nothing to change"),
                   ("overrides:\n  - code: rule.error\n    severity: ok\n", "rule.error cannot be overridden"),
                   ("overrides:\n  - severity: ok\n", "overrides")]:
    write(cfg, text)
    p = run(mx, *cfgbase, "192.0.2.1")
    check(p.returncode == 3 and want in p.stderr, "bad override %r: %r" % (text, want), p)
write(cfg, "overrides:\n  - code: nosuch.code\n    severity: crit\n")
p = run(mx, *cfgbase, "192.0.2.1")
check(p.returncode == 0 and "override for code 'nosuch.code': no loaded rule declares it" in p.stderr, "unknown code warned", p)

# --- a site rule declaring another rule's code: a warning at load
dup = os.path.join(tmp, "duprules")
write(os.path.join(dup, "d.lua"), 'return { id = "d", description = "d", codes = { ["tls.cert_name_mismatch"] = "crit" }, run = function() end }\n')
p = run(mx, "check", "--no-config", "--rules-dir", dup, "--only", "d", "192.0.2.1")
check("code 'tls.cert_name_mismatch' is declared by rule 'smtp'" in p.stderr and "rule 'd'" in p.stderr and "overrides:" in p.stderr,
      "duplicate code warning", p)
p = run(mx, "check", "--no-config", "--only", "mx", "--replay", os.path.join(src, "tests/rules/shipped/healthy/recording.json"))
check("warning" not in p.stderr, "the shipped rules alone give no duplicate-code warning", p)

# --- recorded for replay: the same findings offline
rec = os.path.join(tmp, "rec.json")
write(cfg, "overrides:\n  - code: partner.seen\n    severity: warn\n")
p1 = run(mx, *cfgbase, "192.0.2.1", "--rule-arg", "partner.name=rec", "--record", rec)
p2 = run(mx, "check", "--rules-dir", rules, "--json", "--replay", rec)
check(p1.returncode == 1 and p2.returncode == 1 and json.loads(p1.stdout)["findings"] == json.loads(p2.stdout)["findings"],
      "replay reproduces rule options and overrides", p2)
r = json.load(open(rec))
check(r.get("rule_options") == {"partner": {"name": "rec"}} and r.get("overrides", [{}])[0].get("code") == "partner.seen",
      "recording keeps rule_options and overrides: %r" % {k: r.get(k) for k in ("rule_options", "overrides")})
p = run(mx, "check", "--rules-dir", rules, "--replay", rec, "--rule-arg", "partner.name=x")
check(p.returncode == 3 and "--rule-arg" in p.stderr, "--rule-arg refused beside --replay", p)

# --- run-level rules
write(os.path.join(rules, "senders.lua"), r'''
return {
  id = "senders", description = "our senders, once per run", scope = "run",
  options = { ips = "list" },
  codes = { ["senders.listed"] = "crit" },
  run = function(target, report)
    for _, ip in ipairs(report.options.ips or {}) do
      dns.query(dns.reverse_name(ip) .. "zen.test", "A")
      report:finding { code = "senders.listed", summary = "sender " .. ip .. " (" .. target.kind .. ")", evidence = { address = ip } }
    end
  end,
}
''')
res = "127.0.0.1:%d" % closed_port()
runargs = ["--rule-arg", 'senders.ips=["198.51.100.7"]', "--resolver", res, "--timeout", "2"]
p = run(mx, "check", "--no-config", "--rules-dir", rules, "--only", "partner,senders", "--json", "192.0.2.1", *runargs)
check(p.returncode == 2, "check exits with the worse of target and run", p)
if p.stdout.startswith("{"):
    d = json.loads(p.stdout)
    check(d["status"] == "ok" and d["run"]["status"] == "crit" and [f["summary"] for f in d["run"]["findings"]] == ["sender 198.51.100.7 (run)"],
          "run part of the report: %r" % d.get("run"))
    check("senders" not in [x["id"] for x in d["rules"]] and [x["id"] for x in d["run"]["rules"]] == ["senders"],
          "the run-level rule is listed in the run part only")
p = run(mx, "check", "--no-config", "--rules-dir", rules, "--only", "partner,senders", "192.0.2.1", *runargs)
check(p.stdout.count("senders.listed") == 1 and "Run-level rules" in p.stdout, "text: run-level findings once", p)
# a rule test replays the run-level check too and compares its findings
tdir = os.path.join(tmp, "runtest")
os.makedirs(tdir)
p = run(mx, "check", "--no-config", "--rules-dir", rules, "--only", "senders", "192.0.2.1", *runargs,
        "--record", os.path.join(tdir, "recording.json"))
check(p.returncode == 2, "record a run-level check", p)
write(os.path.join(tdir, "expect.json"), json.dumps({"rules": ["senders"], "findings": [
    {"rule": "senders", "code": "senders.listed", "severity": "crit"}]}))
p = run(mx, "rules", "test", "--rules-dir", rules, tdir)
check(p.returncode == 0 and "PASS" in p.stdout, "rules test compares run-level findings", p)
write(os.path.join(tdir, "expect.json"), json.dumps({"rules": ["senders"], "findings": []}))
p = run(mx, "rules", "test", "--rules-dir", rules, tdir)
check(p.returncode == 1 and "+ senders senders.listed crit" in p.stdout.replace("  ", " "), "a missing run-level finding fails", p)
p = run(mx, "check", "--no-config", "--rules-dir", rules, "--only", "senders", "192.0.2.1", *runargs, "--format", "nagios")
check(p.returncode == 0, "nagios: the exit status is the line's (the target's)", p)

lst = os.path.join(tmp, "list.yaml")
write(lst, "domains:\n  - 192.0.2.1\n  - 192.0.2.2\n  - 192.0.2.3\n")
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "partner,senders", lst, *runargs)
lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
check(len(lines) == 3 and all(l["status"] == "ok" for l in lines) and "senders.listed" not in p.stdout,
      "batch: no domain carries the run-level finding", p)
check(p.stderr.count("senders.listed") == 1 and "run-level rules (once for the run, not per domain): crit" in p.stderr,
      "batch summary: run-level findings once", p)
check(p.returncode == 2, "batch exit status counts the run-level findings", p)
write(os.path.join(rules, "usesrun.lua"), 'return { id = "usesrun", description = "d", provides = { "senders.verdict" }, scope = "run", codes = {}, run = function() end }\n')
write(os.path.join(rules, "needs.lua"), 'return { id = "needs", description = "d", requires = { "senders.verdict" }, codes = {}, run = function() end }\n')
p = run(mx, "check", "--no-config", "--rules-dir", rules, "--only", "partner", "192.0.2.1")
check(p.returncode == 3 and "a run-level rule and a target's rules cannot share facts" in p.stderr, "facts across scopes refused", p)
os.remove(os.path.join(rules, "usesrun.lua")); os.remove(os.path.join(rules, "needs.lua"))

# --- batch entries' rule_options: per domain, checked; a bad entry is skipped with its line
write(lst, "defaults:\n  rule_options:\n    partner: {name: dflt}\ndomains:\n  - 192.0.2.1\n"
           "  - domain: 192.0.2.2\n    rule_options:\n      partner: {name: own}\n"
           "  - domain: 192.0.2.3\n    rule_options:\n      partner: {nmae: typo}\n")
p = run(mx, "batch", "--no-config", "--rules-dir", rules, "--only", "partner", lst)
lines = {l["target"]["input"]: l for l in (json.loads(x) for x in p.stdout.splitlines() if x.strip())}
names = {k: v["findings"][0]["evidence"].get("name") for k, v in lines.items()}
check(names == {"192.0.2.1": "dflt", "192.0.2.2": "own"}, "batch rule_options per entry over defaults: %r" % names, p)
check(":9:" in p.stderr and "has no option 'nmae' (did you mean 'name'?)" in p.stderr and "entry skipped" in p.stderr,
      "batch: a bad entry's rule_options named with its line", p)

# --- mxdiag rules facts
p = run(mx, "rules", "facts", os.path.join(src, "tests/rules/shipped/healthy/recording.json"))
check(p.returncode == 0, "rules facts", p)
if p.returncode == 0:
    facts = json.loads(p.stdout)["facts"]
    s = facts["smtp.sessions"][0]
    c = s.get("certificate") or {}
    check(s.get("greeting_text", "").startswith("mx.healthy.test ESMTP") and isinstance(s.get("greeting"), int),
          "smtp.sessions greeting code and text: %r" % s)
    check(c.get("subject") == "CN=mx.healthy.test" and "mx.healthy.test" in c.get("sans", []) and isinstance(c.get("days_left"), int)
          and c.get("chain_length") == 2 and c.get("verify_ok") is True and c.get("not_after") and c.get("issuer"),
          "smtp.sessions certificate: %r" % c)
    check(set(facts) >= {"mx.hosts", "mx.addresses", "tcp.results", "smtp.sessions"}, "all facts dumped: %r" % sorted(facts))
p = run(mx, "rules", "facts", cfg)
check(p.returncode == 3 and "is not a recording" in p.stderr, "rules facts on a non-recording", p)

shutil.rmtree(tmp)
for f in fails:
    print("FAIL:", f)
print("%d problem(s)" % len(fails))
sys.exit(1 if fails else 0)

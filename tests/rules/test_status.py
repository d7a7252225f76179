#!/usr/bin/env python3
"""Issue 19, "status that monitoring can live with": the status mapping of
RULES.md ("Status and exit codes") case by case, as `--format nagios` lines
and exit codes of `check --replay` of the shipped recordings; perfdata per MX
address; usage errors in nagios mode print a plugin line on stdout."""
import os, re, subprocess, sys

mx = os.path.abspath(sys.argv[1])
here = os.path.dirname(os.path.abspath(__file__))
shipped = os.path.join(here, "shipped")
failures = []


def run(args):
    env = dict(os.environ)
    env.pop("MXDIAG_RULES_PATH", None)
    return subprocess.run([mx, *args], capture_output=True, text=True, timeout=120, env=env)


def expect(name, cond, detail):
    if not cond:
        failures.append("%s: %s" % (name, detail))


def nagios(rec):
    p = run(["check", "--replay", os.path.join(shipped, rec, "recording.json"), "--format", "nagios"])
    return p.returncode, p.stdout


# situation -> (status word, exit code, text the line must hold, text it must not hold)
CASES = [
    ("healthy", "OK", 0, "A most-preferred mail host accepts", "documentation"),
    # the cause, not the generic delivery.none
    ("refused", "CRITICAL", 2, "192.0.2.11:25 refused the connection", "No mail host"),
    ("dropped", "CRITICAL", 2, "did not answer", "No mail host"),
    ("reject554", "CRITICAL", 2, "554", "No mail host"),
    ("nonexistent", "CRITICAL", 2, "", None),
    ("backup", "WARNING", 1, "", None),
    # a temporary refusal is "delayed" (WARNING), never "cannot be delivered"
    ("tempfail421", "WARNING", 1, "temporary refusal", "cannot be delivered"),
    ("ratelimited", "WARNING", 1, "rate-limited", "cannot be delivered"),
    # lists that cannot be queried are info when another list gave a verdict
    ("dnsblpartial", "OK", 0, "not listed on 1 verified list", None),
    # ... and UNKNOWN when no list could be verified: the question is unanswered
    ("dnsblnone", "UNKNOWN", 3, "9 blocklists could not be queried", None),
]
for rec, word, code, has, hasnt in CASES:
    rc, out = nagios(rec)
    lines = out.split("\n")
    expect(rec, rc == code, "exit %d, want %d: %r" % (rc, code, out))
    expect(rec, len(lines) == 2 and lines[1] == "", "want exactly one line, got %r" % out)
    expect(rec, out.startswith("MXDIAG %s - " % word), "want MXDIAG %s, got %r" % (word, out))
    status_part = out.split(" | ")[0]
    expect(rec, has in status_part, "want %r in the status text, got %r" % (has, status_part))
    if hasnt:
        expect(rec, hasnt not in status_part, "want no %r in the status text, got %r" % (hasnt, status_part))
    expect(rec, out.count("|") == 1, "one '|' (the perfdata separator), got %r" % out)

# the grouped finding: one dnsbl.unreliable, not one per list
p = run(["check", "--replay", os.path.join(shipped, "dnsblnone", "recording.json"), "--json"])
import json
doc = json.loads(p.stdout)
unrel = [f for f in doc["findings"] if f["code"] == "dnsbl.unreliable"]
expect("dnsblnone json", len(unrel) == 1 and unrel[0]["evidence"].get("count") == 9
       and len(unrel[0]["evidence"].get("zones", [])) == 9 and doc["status"] == "unknown",
       "want one grouped unknown dnsbl.unreliable naming 9 zones, got %r" % unrel)

# perfdata per MX address: connect, greeting, TLS handshake ms, certificate days
rc, out = nagios("healthy")
perf = out.split(" | ", 1)[1] if " | " in out else ""
for addr in ("192.0.2.10", "2001:db8::10"):
    for what, unit in (("connect", "ms"), ("greeting", "ms"), ("tls", "ms"), ("cert_days", "")):
        pat = r"'mx\.healthy\.test\[%s\]:25 %s'=\d+%s(\s|$)" % (re.escape(addr), what, unit)
        expect("healthy perfdata", re.search(pat, perf), "want %s in %r" % (pat, perf))
rc, out = nagios("refused")
expect("refused perfdata", "connect'" not in out, "no connect time for a refused address: %r" % out)

# usage errors: a plugin line on stdout, exit 3 (stderr keeps the message)
for args in (["check", "--format", "nagios", "--timout", "3", "x.test"],
             ["check", "--format=nagios", "a b"],
             ["check", "--format", "nagios", "--timeout", "abc", "x.test"],
             ["check", "--format", "nagios"]):
    p = run(args)
    expect(" ".join(args), p.returncode == 3 and re.fullmatch(r"MXDIAG UNKNOWN - usage: [^\n|]+\n", p.stdout),
           "want exit 3 and one 'MXDIAG UNKNOWN - usage: ...' line, got %d %r" % (p.returncode, p.stdout))
# input errors that are not malformed command lines (issue 19): a bad or
# unreadable recording, a recording of another target, an option that would
# change a replay's calls, a rule file that does not load, a rule option of no
# loaded rule, --only matching nothing, a --record that cannot be written, a
# bad configuration file, a bad --resolver, a logs usage error, no command
import tempfile
healthy = os.path.join(shipped, "healthy", "recording.json")
with tempfile.TemporaryDirectory() as tmp:
    notrec = os.path.join(tmp, "notrec.json")
    with open(notrec, "w") as f:
        f.write('{"x": 1}\n')
    badrules = os.path.join(tmp, "rules")
    os.mkdir(badrules)
    with open(os.path.join(badrules, "10-bad.lua"), "w") as f:
        f.write('return {id = "bad"\n')
    badconf = os.path.join(tmp, "mxdiag.yaml")
    with open(badconf, "w") as f:
        f.write("bogus_key: 1\n")
    for args, says in (
            (["check", "--format", "nagios", "--replay", os.path.join(tmp, "missing.json")], "cannot open recording"),
            (["check", "--format=nagios", "--replay", notrec], "is not an mxdiag recording"),
            (["check", "--format", "nagios", "--replay", healthy, "other.test"], "is a recording of 'healthy.test'"),
            (["check", "--format", "nagios", "--replay", healthy, "--port", "26"], "would change its engine calls"),
            (["check", "--format", "nagios", "--replay", healthy, "--rules-dir", badrules], "10-bad.lua"),
            (["check", "--format", "nagios", "--no-config", "--rules-dir", badrules, "x.test"], "10-bad.lua"),
            (["local", "--format", "nagios", "--no-config", "--rules-dir", badrules], "10-bad.lua"),
            (["check", "--format", "nagios", "--no-config", "--rule-arg", "nosuch.opt=1", "x.test"], "no rule 'nosuch'"),
            (["check", "--format", "nagios", "--no-config", "--only", "nosuchrule", "x.test"], "matches no rule"),
            (["check", "--format", "nagios", "--replay", healthy, "--record", os.path.join(tmp, "no", "dir.json")],
             "dir.json"),
            (["check", "--format", "nagios", "--config", badconf, "x.test"], "unknown key 'bogus_key'"),
            (["check", "--format", "nagios", "--config", os.path.join(tmp, "none.yaml"), "x.test"], "cannot open"),
            (["check", "--format", "nagios", "--no-config", "--resolver", "bogus", "x.test"], "--resolver"),
            (["logs", "--format", "nagios", os.devnull], "--probe N"),
            (["logs", "--format=nagios", "--widht", "3", os.devnull], "unknown option --widht"),
            (["--format", "nagios"], "no command")):
        p = run(args)
        name = " ".join(a.replace(tmp, "TMP") for a in args)
        expect(name, p.returncode == 3 and re.fullmatch(r"MXDIAG UNKNOWN - usage: [^\n|]+\n", p.stdout)
               and says in p.stdout, "want exit 3 and one 'MXDIAG UNKNOWN - usage: ...%s...' line, got %d %r %r"
               % (says, p.returncode, p.stdout, p.stderr[-300:]))
    # the same errors without nagios: stdout stays empty, stderr says it
    p = run(["check", "--format", "json", "--replay", notrec])
    expect("bad recording, json", p.returncode == 3 and p.stdout == "" and "is not an mxdiag recording" in p.stderr,
           "got %d %r %r" % (p.returncode, p.stdout, p.stderr))
    p = run(["check", "--replay", healthy, "--record", os.path.join(tmp, "no", "dir.json")])
    expect("unwritable --record, text", p.returncode == 3 and "healthy.test" in p.stdout and "dir.json" in p.stderr,
           "got %d %r %r" % (p.returncode, p.stdout, p.stderr))

# not in nagios mode: stdout stays empty
p = run(["check", "--format", "json", "--timout", "3", "x.test"])
expect("usage error, json", p.returncode == 3 and p.stdout == "", "got %d %r" % (p.returncode, p.stdout))

# mxdiag explain CODE: the declaring rule, its severity and RULES.md's row
p = run(["explain", "tcp.refused", "--width", "80"])
expect("explain tcp.refused", p.returncode == 0 and p.stdout.startswith("tcp.refused (rule tcp, warn)\n")
       and "nothing listens" in p.stdout and "Codes `tcp.*`" in p.stdout, "got %d %r" % (p.returncode, p.stdout))
p = run(["explain", "dnsbl.unreliable"])
expect("explain dnsbl.unreliable", p.returncode == 0 and "info when another list gave a verdict" in p.stdout,
       "got %d %r" % (p.returncode, p.stdout))
p = run(["explain", "no.such_code"])
expect("explain unknown", p.returncode == 3 and p.stdout == "" and "no rule declares" in p.stderr,
       "got %d %r %r" % (p.returncode, p.stdout, p.stderr))
p = run(["explain"])
expect("explain without CODE", p.returncode == 3 and "explain needs one finding CODE" in p.stderr,
       "got %d %r" % (p.returncode, p.stderr))

if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print("ok")

#!/usr/bin/env python3
"""The logs rules (rules/95-97-logs-*.lua) over synthetic Postfix logs with
known truth (tests/data/logs/gen_scenarios.py): each wrong verdict of issue 17
is a case here, and every sentence must agree with its counts.

usage: test_logs_rules.py MXDIAG SOURCE_DIR"""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MX, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "tests", "data", "logs"))
import gen_scenarios  # noqa: E402

TMP = tempfile.mkdtemp(prefix="mxdiag-logsrules-")
atexit.register(shutil.rmtree, TMP, True)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(name, *extra, text=False):
    path = os.path.join(TMP, name + ".log")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(gen_scenarios.SCENARIOS[name]().text())
    env = dict(os.environ)
    env.pop("MXDIAG_RULES_PATH", None)
    env["NO_COLOR"] = "1"
    args = [MX, "logs", "--utc", "--now", "2024-03-02T00:00:00Z"] + ([] if text else ["--json"]) + list(extra) + [path]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    if text:
        return p.returncode, p.stdout, p.stderr
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise SystemExit("%s: no JSON (exit %d): %s %s" % (name, p.returncode, p.stdout[:500], p.stderr[:500]))
    return p.returncode, doc


def finding(doc, code):
    for f in doc["findings"]:
        if f["code"] == code:
            return f
    return None


def scope(doc):
    f = doc["findings"][0]
    assert f["code"] == "logs.scope", f["code"]
    return f, f["evidence"]


def all_text(doc):
    return "\n".join(f.get("summary", "") + "\n" + f.get("explanation", "") + "\n" + f.get("advice", "")
                     for f in doc["findings"])


def no_nonsense(name, doc):
    t = all_text(doc)
    check(not re.search(r"\b0 (bounced|deferred|expired)\b", t), "%s: no zero count in a breakdown" % name)
    if doc["findings"][0]["evidence"].get("external_successes", 0) == 0:
        check("accept your mail" not in t and "other domains accept" not in t,
              "%s: with 0 successes no sentence says other destinations accept" % name)
    check(not re.search(r"every delivery to a remote server", t, re.I) or
          doc["findings"][0]["evidence"].get("external_successes", 0) > 0,
          "%s: never 'every delivery to a remote server succeeded' without one" % name)


# 71 successes to 17 domains + typo domains + an IPv6 route problem: not "all external fail"
rc, doc = run("webapp")
f, ev = scope(doc)
check(ev["judgement"] not in ("cutover", "nothing_succeeds", "blocklisted") and f["severity"] != "crit",
      "webapp: not an 'everything fails' verdict (%s, %s)" % (ev["judgement"], f["severity"]))
check(ev["judgement"] == "no_route" and "v6only.example" in f["summary"],
      "webapp: the IPv6 route problem is named as ours, with its destination: %s" % f["summary"])
check(ev["external_successes"] == 71 and ev["succeeding_domains"] == 17, "webapp: 71 successes to 17 domains (%s, %s)"
      % (ev["external_successes"], ev["succeeding_domains"]))
inv = finding(doc, "logs.invalid_recipients")
want = {"hotmai.com": "hotmail.com", "homtail.com": "hotmail.com", "gmile.com": "gmail.com", "tahoo.com": "yahoo.com",
        "hotmail.co": "hotmail.com", "2012gmail.com": "gmail.com"}
got = {d["domain"]: d.get("looks_like") for d in inv["evidence"]["domains"]} if inv else {}
check(got == want, "webapp: the typo domains grouped with the provider each misspells: %s" % got)
check(ev["invalid_recipient_failures"] == 9 and ev["delivery_failures"] == 4,
      "webapp: typo failures (9) kept out of the verdict's 4 (%s, %s)" % (ev["invalid_recipient_failures"],
                                                                         ev["delivery_failures"]))
check(inv is not None and "9 failed deliveries to 6 domains" in inv["summary"], "webapp: invalid summary counts")
nu = finding(doc, "logs.cause_net_unreachable")
check(nu and nu["evidence"]["failures"] == 4 and nu["evidence"]["attempts"] == 15,
      "webapp: net_unreachable: 4 recipients failed, 15 attempts apart")
no_nonsense("webapp", doc)

# 12% random failures, every domain succeeding to the end: intermittent
rc, doc = run("intermittent")
f, ev = scope(doc)
check(ev["judgement"] == "intermittent" and f["severity"] == "warn" and rc == 1,
      "intermittent: judgement %s, severity %s, exit %d" % (ev["judgement"], f["severity"], rc))
check(ev["delivery_failures"] == 120 and ev["external_successes"] == 880, "intermittent: 120 failures, 880 successes")
check("throttl" in f["advice"] and "NAT" in f["advice"] and "route" in f["advice"],
      "intermittent: the advice names throttling, connection limits, a flaky route")
no_nonsense("intermittent", doc)

# attempt lines are evidence, never a second failure
rc, doc = run("attempts")
f, ev = scope(doc)
to = finding(doc, "logs.cause_timeout")
check(ev["external_failures"] == 10 and to["evidence"]["failures"] == 10 and to["evidence"]["attempts"] == 20,
      "attempts: 10 failures (not 30), 20 attempts apart (%s, %s, %s)" % (ev["external_failures"],
                                                                         to["evidence"]["failures"],
                                                                         to["evidence"]["attempts"]))
check("10 recipient deliveries failed (10 deferred), plus 20 failed connection attempts" in to["summary"],
      "attempts: the cause summary counts recipients and attempts apart: %s" % to["summary"])
check(ev["judgement"] == "their_side" and "slow.example" in f["summary"] and "5 other domains accept" in f["summary"],
      "attempts: their side, naming slow.example: %s" % f["summary"])
no_nonsense("attempts", doc)

# 0 successes: never "others accept"
rc, doc = run("only_one_fails")
f, ev = scope(doc)
check(ev["judgement"] == "one_fails_unverified" and "down.example" in f["summary"],
      "only_one_fails: one destination, nothing to compare: %s" % f["summary"])
no_nonsense("only_one_fails", doc)
rc, doc = run("nothing_succeeds")
f, ev = scope(doc)
check(ev["judgement"] == "nothing_succeeds" and f["severity"] == "crit" and rc == 2,
      "nothing_succeeds: crit, exit 2 (%s)" % ev["judgement"])
check("30 deliveries to 8 destinations" in f["summary"], "nothing_succeeds: counts in the summary: %s" % f["summary"])
no_nonsense("nothing_succeeds", doc)
# no success, but each destination fails its own way: nothing points at this side, and a real domain
# whose server answered (yahoo.com.mx, deferred for complaints) is not "mistyped" (like yahoo.com.br)
rc, doc = run("each_own_reason")
f, ev = scope(doc)
check(ev["judgement"] == "several_fail_unverified" and f["severity"] == "warn" and rc == 1,
      "each_own_reason: several_fail_unverified, warn, exit 1 (%s, %s, %d)" % (ev["judgement"], f["severity"], rc))
check("broken-ns.example" in f["summary"] and "yahoo.com.mx" in f["summary"] and "resolver" not in f["advice"],
      "each_own_reason: names both, no resolver advice: %s / %s" % (f["summary"], f["advice"]))
check(not [x for x in doc["findings"] if x["code"] == "logs.invalid_recipients"],
      "each_own_reason: yahoo.com.mx answered, so it is not a mistyped domain")
no_nonsense("each_own_reason", doc)
rc, doc = run("complained")
f, ev = scope(doc)
check(ev["judgement"] == "reputation" and f["severity"] == "crit" and "your side" in f["summary"],
      "complained: two receivers defer us for complaints: reputation, crit, your side (%s: %s)"
      % (ev["judgement"], f["summary"]))
check([x for x in doc["findings"] if x["code"] == "logs.cause_sender_reputation"],
      "complained: a logs.cause_sender_reputation finding")
no_nonsense("complained", doc)
rc, doc = run("blocked_mixed")
f, ev = scope(doc)
check(ev["judgement"] == "nothing_succeeds" and f["severity"] == "crit",
      "blocked_mixed: a timeout and an IPv6 'network unreachable' are one kind: nothing_succeeds (%s)" % ev["judgement"])

# no remote delivery at all: say so
rc, doc = run("no_remote")
f, ev = scope(doc)
check(ev["judgement"] == "no_remote" and rc == 0, "no_remote: judgement %s, exit %d" % (ev["judgement"], rc))
check("no delivery to a remote server" in f["summary"] and "143 local deliveries, 8 of them failed" in f["summary"],
      "no_remote: says there was no remote delivery, and what there was: %s" % f["summary"])
no_nonsense("no_remote", doc)

# ranking by impact: 1..3 failures and no success before 2 among 32 successes
rc, doc = run("ranking")
f, ev = scope(doc)
order = [d["domain"] for d in ev["top_failing_domains"]]
check(order[:2] == ["dead.example", "busy.example"], "ranking: by impact, not raw count: %s" % order)
no_nonsense("ranking", doc)

# a cutover on our side, with its time
rc, doc = run("cutover")
f, ev = scope(doc)
check(ev["judgement"] == "cutover" and f["severity"] == "crit" and rc == 2, "cutover: crit, exit 2 (%s)" % ev["judgement"])
check(ev.get("since") == "2024-03-01T12:00:00Z" and "since 12:00 UTC" in f["summary"],
      "cutover: since 12:00 (%s): %s" % (ev.get("since"), f["summary"]))
check(ev.get("failures_since") == 120 and ev.get("domains_failing_since") == 12, "cutover: 120 failures to 12 since")
no_nonsense("cutover", doc)

# one broken destination among healthy ones: their side, named
rc, doc = run("their_side")
f, ev = scope(doc)
check(ev["judgement"] == "their_side" and "broken.example" in f["summary"] and "15 other domains accept" in f["summary"],
      "their_side: %s" % f["summary"])
no_nonsense("their_side", doc)

rc, doc = run("blocklisted")
f, ev = scope(doc)
check(ev["judgement"] == "blocklisted" and f["severity"] == "crit", "blocklisted: %s" % ev["judgement"])
check(finding(doc, "logs.invalid_recipients") is None, "blocklisted: receivers that rejected us are no typos")
no_nonsense("blocklisted", doc)

# refused for our reverse DNS by two receivers: your side, whatever the others do
rc, doc = run("identity")
f, ev = scope(doc)
idc = finding(doc, "logs.cause_sender_identity")
check(ev["judgement"] == "identity" and f["severity"] == "crit" and rc == 2 and "your side" in f["summary"],
      "identity: your side, crit (%s, %s): %s" % (ev["judgement"], f["severity"], f["summary"]))
check(idc is not None and idc["evidence"]["failures"] == 16 and "reverse DNS (PTR)" in f["advice"],
      "identity: 16 failures of cause sender_identity, the advice names the PTR (%s)" % (idc and idc["evidence"]))
check(ev.get("since") == "2024-03-01T06:00:00Z" and "16 deliveries to 2 domains were rejected" in f["explanation"],
      "identity: since 06:00, counts in the explanation: %s" % f["explanation"])
rr = finding(doc, "logs.cause_rcpt_reject")
check(rr is not None and rr["evidence"]["failures"] == 1 and "1 rejected or invalid recipient" in f["explanation"],
      "identity: an unknown user answered after DATA is a rejected recipient, left out of the verdict")
no_nonsense("identity", doc)

# two destinations failing: since the first failure of either; successes only
# before the failures are not "meanwhile"
rc, doc = run("two_fail_before")
f, ev = scope(doc)
check(ev["judgement"] == "their_side" and ev.get("since") == "2024-03-01T02:00:00Z" and "since 02:00 UTC" in f["summary"],
      "two_fail_before: since the earliest failure (%s): %s" % (ev.get("since"), f["summary"]))
check("meanwhile" not in f["explanation"] and "before these failures began" in f["explanation"]
      and "accepted your mail before that" in f["summary"],
      "two_fail_before: successes before the failures are not 'meanwhile': %s" % f["explanation"])
no_nonsense("two_fail_before", doc)
rc, doc = run("their_side")
f, ev = scope(doc)
check("succeeded meanwhile" in f["explanation"], "their_side: successes after the failures began are 'meanwhile'")

# only the recipients' own failures and no success: not "ok" with "0 successful deliveries"
rc, doc = run("recipients_only")
f, ev = scope(doc)
check(ev["judgement"] == "ok" and f["severity"] == "info" and "no remote delivery succeeded" in f["summary"]
      and "0 successful" not in f["summary"],
      "recipients_only: info, says nothing succeeded (%s): %s" % (f["severity"], f["summary"]))
no_nonsense("recipients_only", doc)
rc, doc = run("one_other_accepts")
f, ev = scope(doc)
check(ev["judgement"] == "their_side" and "1 other domain accepts your mail" in f["summary"],
      "one_other_accepts: '1 other domain accepts': %s" % f["summary"])

# "since" is the first failure that counts for the verdict, not a rejected recipient's
rc, doc = run("recipient_first")
f, ev = scope(doc)
check(ev["judgement"] == "nothing_succeeds" and ev.get("since") == "2024-03-01T02:00:00Z"
      and "since at least 02:00 UTC" in f["summary"],
      "recipient_first: since 02:00, not the unknown user's 01:00 (%s): %s" % (ev.get("since"), f["summary"]))

# permanent non-existence apart from a temporary lookup failure
rc, doc = run("dns_kinds")
nx, tf = finding(doc, "logs.cause_domain_not_found"), finding(doc, "logs.cause_dns_fail")
check(nx and tf and nx["advice"] != tf["advice"], "dns_kinds: different advice for NXDOMAIN and 'try again'")
check(nx and nx["evidence"]["permanent"] is True and "mistyped" in nx["advice"], "dns_kinds: NXDOMAIN is permanent")
check(tf and tf["evidence"]["permanent"] is False and "resolver" in tf["advice"], "dns_kinds: try again is temporary")
inv = finding(doc, "logs.invalid_recipients")
check(inv and [d["domain"] for d in inv["evidence"]["domains"]] == ["no-such-domain.example"]
      and inv["evidence"]["domains"][0]["reason"] == "not_found", "dns_kinds: the non-existent domain is invalid")
no_nonsense("dns_kinds", doc)

# local failures beside healthy remote delivery
rc, doc = run("local_and_remote")
f, ev = scope(doc)
check(ev["judgement"] == "ok" and ev["local_failures"] == 10, "local_and_remote: remote ok, 10 local failures")
other = finding(doc, "logs.cause_other")
check(other and other["severity"] == "info" and "10 of them local" in other["summary"],
      "local_and_remote: local-only failures are information")
no_nonsense("local_and_remote", doc)
# a cause's lists rank failures and local failures together: the text shows
# that count, not the external failures alone ("example.org (0)")
rc, out, _ = run("local_and_remote", text=True)
check("top_domains           example.org (10, 10 local)" in out,
      "local_and_remote: the text shows the ranked count with its local part: %r" % [
          l for l in out.splitlines() if "top_domains" in l])

# the histogram: JSON per cause, compact in the text output
rc, doc = run("cutover")
h = doc["histogram"]
check(h["width"] == 300 and sum(h["series"]["success"]) == 120 and sum(h["series"]["timeout"]) == 120,
      "histogram: 5-minute buckets for an 8-hour window, sums exact")
code, out, err = run("cutover", text=True)
check(re.search(r"^  success +\|[ .:\-=+*#%@]+\| 120$", out, re.M) and re.search(r"^  timeout +\|", out, re.M),
      "histogram: one line per series in the text output")

# a site rule replaces a shipped logs rule, and one adds a finding
site = os.path.join(TMP, "site")
os.makedirs(site)
with open(os.path.join(site, "95-logs-scope.lua"), "w") as fh:
    fh.write('return { id = "logs-scope", kind = "logs", description = "site verdict", '
             'codes = { ["logs.scope"] = "info" }, run = function(target, report) '
             'report:finding{ code = "logs.scope", summary = "site says " .. target.facts.logs.total.successes, '
             'evidence = { judgement = "site" } } end }\n')
with open(os.path.join(site, "99-extra.lua"), "w") as fh:
    fh.write('return { id = "site-extra", kind = "logs", description = "site finding", '
             'codes = { ["site.extra"] = "warn" }, run = function(target, report) '
             'report:finding{ code = "site.extra", summary = "lines " .. target.facts.logs.lines } end }\n')
rc, doc = run("their_side", "--rules-dir", site)
f, ev = scope(doc)
check(f["summary"] == "site says 150" and ev["judgement"] == "site", "site rule replaces logs-scope: %s" % f["summary"])
ex = finding(doc, "site.extra")
check(ex and ex["severity"] == "warn" and rc == 1, "site rule adds a finding (exit %d)" % rc)
# a check never runs logs rules, and a logs rule's kind is validated
with open(os.path.join(site, "98-bad.lua"), "w") as fh:
    fh.write('return { id = "bad", kind = "logz", description = "x", codes = {}, run = function() end }\n')
code, out, err = run("their_side", "--rules-dir", site, text=True)
check(code == 3 and "field 'kind' must be" in err, "a bad kind is a loader error: %s" % err.strip()[:200])
os.remove(os.path.join(site, "98-bad.lua"))
p = subprocess.run([MX, "rules", "list", "--rules-dir", site], capture_output=True, text=True, timeout=60)
lines = p.stdout.splitlines()
logs_lines = [l for l in lines if "[logs]" in l]
check(p.returncode == 0 and any(l.startswith("logs-scope ") for l in logs_lines)
      and any(l.startswith("site-extra ") for l in logs_lines)
      and not any(l.startswith("mx ") for l in logs_lines)
      and lines.index(logs_lines[0]) > max(i for i, l in enumerate(lines) if l.startswith("mx ")),
      "rules list: the logs rules (shipped and site) follow the check rules, marked [logs]: %s" % p.stdout[-600:])
p = subprocess.run([MX, "rules", "list", "--json", "--rules-dir", site], capture_output=True, text=True, timeout=60)
kinds = {r["id"]: r["kind"] for r in json.loads(p.stdout)}
check(kinds.get("logs-scope") == "logs" and kinds.get("mx") == "check", "rules list --json: kind per rule")
code, out, err = run("their_side", "--timeout", "3", text=True)
check(code == 3 and "it goes with --probe N" in err, "check options without --probe are refused")

# the contrib site rule: a provider's throttling replies as a cause of their own
contrib = os.path.join(SRC, "contrib", "rules")
rc, doc = run("throttled")
check(finding(doc, "throttle.provider") is None, "throttled: no throttle finding without the site rule")
rc, doc = run("throttled", "--rules-dir", contrib)
th = finding(doc, "throttle.provider")
check(th is not None and th["rule"] == "site-logs-throttling" and th["evidence"]["provider"] == "Gmail"
      and th["evidence"]["failures"] == 15 and th["evidence"]["domains"] == [{"domain": "gmail.com", "failures": 15}],
      "throttled: the contrib rule names Gmail's 15 rate-limit deferrals: %s" % (th and th["summary"]))
check(th is not None and "15 of the 16 failed deliveries" in th["summary"], "throttled: counts agree with the total")
check(doc["findings"][0]["code"] == "logs.scope", "throttled: the shipped scope stays first")
no_nonsense("throttled", doc)
# the cause catalog as data (rules/lib/log_patterns.lua, issue 17): contrib's lib/log_patterns.lua adds
# "provider_throttled" before the shipped entries; the new cause flows through the parser's matcher to the
# fact `logs`, the per-cause finding (its own code, a generic wording), the histogram and the scope verdict
rc, doc = run("throttled")
check(finding(doc, "logs.cause_provider_throttled") is None and "provider_throttled" not in doc["histogram"]["series"],
      "throttled: no provider_throttled cause with the shipped catalog")
rc, doc = run("throttled", "--rules-dir", contrib)
pt = finding(doc, "logs.cause_provider_throttled")
check(pt is not None and pt["evidence"]["cause"] == "provider_throttled" and pt["evidence"]["failures"] == 15
      and pt["evidence"]["class"] == "other" and pt["severity"] == "warn",
      "throttled + contrib catalog: 15 failures filed as provider_throttled: %s" % (pt and pt["summary"]))
check(pt is not None and "provider throttled" in pt["explanation"] and "lib/logs_causes.lua" in pt["advice"],
      "throttled + contrib catalog: a cause logs_causes does not describe gets the generic wording")
check(sum(doc["histogram"]["series"].get("provider_throttled", [])) == 15, "throttled: the histogram has the new cause")
check("provider_throttled" in scope(doc)[0]["explanation"], "throttled: the scope verdict names the dominant site cause")
code, out, err = run("throttled", "--rules-dir", contrib, text=True)
check(code == 1 and "  provider_throttled |" in out, "throttled text: the histogram row of a long cause name aligns")

# a site catalog that is wrong stops mxdiag logs with an error naming the file and the entry
bad_site = os.path.join(TMP, "badcat")
os.makedirs(os.path.join(bad_site, "lib"), exist_ok=True)
os.chmod(bad_site, 0o755)
os.chmod(os.path.join(bad_site, "lib"), 0o755)
for body, want in (
        ('return { patterns = { { cause = "timeout", match = { "x" } }, { cause = "slow", match = { "" } } } }',
         "patterns[2] (slow): match[1]: empty pattern"),
        ('return { patterns = { { cause = "slow", match = "x" } } }', "patterns[1] (slow): match: a list of strings"),
        ('return { patterns = { { cause = 5, match = { "x" } } } }', "patterns[1]: cause: a name expected, got number"),
        ('return { patterns = { { cause = "slow", match = { "x" }, where = "dsn" } } }', "unknown field where"),
        ('local t = {} for i = 1, 300 do t[i] = { cause = "c", match = { "p" .. i } } end return { patterns = t }',
         "300 entries (at most 256)"),
        ('local t = {} for i = 1, 30 do t[i] = { cause = "c" .. i, match = { "p" .. i } } end return { patterns = t }',
         "too many cause names"),
        ('return 42', "must return a table")):
    path = os.path.join(bad_site, "lib", "log_patterns.lua")
    with open(path, "w") as fh:
        fh.write(body + "\n")
    os.chmod(path, 0o644)
    code, out, err = run("throttled", "--rules-dir", bad_site, text=True)
    check(code == 3 and path in err and want in err, "bad site catalog: exit 3 naming %r: %r" % (want, err.strip()))


# --probe N picks the domains hit hardest, ranked as the logs rules rank them (failures weighted by their
# share, rules/lib/logs_util.lua), not by failure count: big.example (3 failures among 300 successes)
# comes last although it has more failures than small.example (2, none delivered). The probes' resolver
# is a loopback socket that never answers: no query leaves the machine.
def probe_pick():
    import socket
    path = os.path.join(TMP, "probe-rank.log")
    rows, n = [], 0

    def line(dom, ok):
        nonlocal n
        n += 1
        st = ("dsn=2.0.0, status=sent (250 2.0.0 Ok)" if ok else
              "dsn=4.4.1, status=deferred (connect to mx.%s[192.0.2.20]:25: Connection refused)" % dom)
        rows.append("Mar  1 10:%02d:%02d mx1 postfix/smtp[2101]: %010X: to=<u@%s>, relay=%s, delay=1, "
                    "delays=0/0/1/0, %s" % (n // 60 % 60, n % 60, n, dom,
                                             "mx.%s[192.0.2.10]:25" % dom if ok else "none", st))
    for dom, f, s in (("big.example", 3, 300), ("mid.example", 5, 20), ("small.example", 2, 0)):
        for _ in range(f):
            line(dom, False)
        for _ in range(s):
            line(dom, True)
    with open(path, "w") as fh:
        fh.write("\n".join(rows) + "\n")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        env = dict(os.environ)
        env.pop("MXDIAG_RULES_PATH", None)
        p = subprocess.run([MX, "logs", "--utc", "--now", "2024-03-02T00:00:00Z", "--json", path, "--probe", "2",
                            "--resolver", "127.0.0.1:%d" % sock.getsockname()[1], "--timeout", "1"],
                           capture_output=True, text=True, timeout=120, env=env)
    finally:
        sock.close()
    doc = json.loads(p.stdout)
    picked = [d["domain"] for d in doc.get("probed_domains", [])]
    check(picked == ["small.example", "mid.example"],
          "--probe 2 picks by impact (failures x share), not failure count: %r" % picked)
    check(len(doc.get("probes", [])) == 2, "--probe 2: two probe documents")


probe_pick()

# logs_util.distance (banded, capped, rows reused; 97-logs-recipients' typo
# search) against the plain full-table optimal string alignment distance, on
# pseudo-random pairs (near copies with swaps and edits, and unrelated names),
# through a site logs rule that requires the shipped lib.
DISTANCE_RULE = r"""
local util = require("logs_util")
local function plain(a, b)
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = { [0] = i } end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end
return {
  id = "test-distance", kind = "logs", description = "logs_util.distance against the plain computation",
  categories = { "logs" }, codes = { ["test.distance"] = "info" },
  run = function(target, report)
    local seed = 12345
    local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return (seed // 65536) % n + 1 end
    local alpha = "abcab.-1"
    local function rs()
      local t = {}
      for k = 1, rnd(10) - 1 do local r = rnd(#alpha); t[k] = alpha:sub(r, r) end
      return table.concat(t)
    end
    local pairs_n, differ, within, first = 0, 0, 0, nil
    for _ = 1, 20000 do
      local a, b = rs(), rs()
      if rnd(2) == 1 then
        b = a
        for _ = 1, rnd(4) - 1 do
          local p, r = rnd(#b + 1), rnd(4)
          if r == 1 and p <= #b then b = b:sub(1, p - 1) .. b:sub(p + 1)
          elseif r == 2 then b = b:sub(1, p - 1) .. "x" .. b:sub(p)
          elseif r == 3 and p < #b then b = b:sub(1, p - 1) .. b:sub(p + 1, p + 1) .. b:sub(p, p) .. b:sub(p + 2)
          elseif p <= #b then b = b:sub(1, p - 1) .. "y" .. b:sub(p + 1) end
        end
      end
      local want = plain(a, b)
      for max = 1, 2 do
        local got = util.distance(util.bytes(a), #a, util.bytes(b), #b, max)
        pairs_n = pairs_n + 1
        if want <= max then within = within + 1 end
        if (want <= max and got ~= want) or (want > max and got <= max) then
          differ = differ + 1
          first = first or string.format("%q %q max %d: %d, plain %d", a, b, max, got, want)
        end
      end
    end
    report:finding { code = "test.distance", severity = "info", summary = "distance checked",
      evidence = { pairs = pairs_n, differ = differ, within = within, first = first } }
  end,
}
"""


def site_rule_evidence(file_name, text, code):
    """Runs the webapp scenario with one site logs rule; (finding, its evidence)."""
    d = tempfile.mkdtemp(prefix="mxdiag-logssite-")
    with open(os.path.join(d, file_name), "w") as f:
        f.write(text)
    rc, doc = run("webapp", "--rules-dir", d)
    f = finding(doc, code)
    return f, (f["evidence"] if f else {})


def distance_check():
    f, ev = site_rule_evidence("99-test-distance.lua", DISTANCE_RULE, "test.distance")
    check(f is not None and ev.get("pairs") == 40000 and ev.get("within", 0) > 5000 and ev.get("differ") == 0,
          "logs_util.distance agrees with the plain computation on 40,000 pairs: %s" % ev)


distance_check()

# logs_util.dominant (one pass over by_cause, ties to the name first in sort
# order) and logs_util.rank (util.sort_by on keys made once) against their
# plain forms: sorted names, and table.sort with a Lua comparator. Counts are
# drawn from a few values so that ties are common.
RANK_RULE = r"""
local util = require("logs_util")
local causes = require("logs_causes")
local NAMES = { "timeout", "refused", "rbl_reject", "no_such_user", "dns_fail", "greeting_lost", "tls_fail",
  "unreachable", "rcpt_reject", "null_mx" }
local function plain_dominant(g, want)
  local best, bn, names = nil, 0, {}
  for name in pairs(g.by_cause) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local n = g.by_cause[name]
    if (not want or want(causes.class(name))) and n > bn then best, bn = name, n end
  end
  return best, bn
end
local function plain_rank(list)
  table.sort(list, function(a, b)
    local ia, ib = util.impact(a.failures, a.successes), util.impact(b.failures, b.successes)
    if ia ~= ib then return ia > ib end
    if a.failures ~= b.failures then return a.failures > b.failures end
    return a.name < b.name
  end)
  return list
end
return {
  id = "test-rank", kind = "logs", description = "logs_util.dominant and rank against their plain forms",
  categories = { "logs" }, codes = { ["test.rank"] = "info" },
  run = function(target, report)
    local seed = 4242
    local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return (seed // 65536) % n + 1 end
    local not_rcpt = function(c) return c ~= "recipient" end
    local groups, dom_differ, rank_differ, ties, first = 0, 0, 0, 0, nil
    for _ = 1, 3000 do
      local by = {}
      for _ = 1, rnd(5) - 1 do by[NAMES[rnd(#NAMES)]] = rnd(3) - 1 end
      local g = { by_cause = by }
      for _, want in ipairs({ false, not_rcpt }) do
        local a, an = util.dominant(g, want or nil)
        local b, bn = plain_dominant(g, want or nil)
        groups = groups + 1
        if a ~= b or an ~= bn then
          dom_differ = dom_differ + 1
          first = first or string.format("dominant: %s %d, plain %s %d", tostring(a), an, tostring(b), bn)
        end
      end
    end
    for round = 1, 200 do
      local list = {}
      for i = 1, rnd(60) do
        list[i] = { name = string.format("d%02d.example", rnd(99)) .. i, failures = rnd(4), successes = rnd(4) - 1 }
      end
      local a, b = {}, {}
      for i, e in ipairs(list) do a[i] = e; b[i] = e end
      util.rank(a)
      plain_rank(b)
      for i = 1, #list do
        if i > 1 and a[i].failures == a[i - 1].failures and a[i].successes == a[i - 1].successes then ties = ties + 1 end
        if a[i] ~= b[i] then
          rank_differ = rank_differ + 1
          first = first or string.format("rank: round %d position %d", round, i)
          break
        end
      end
    end
    report:finding { code = "test.rank", severity = "info", summary = "dominant and rank checked",
      evidence = { groups = groups, dominant_differ = dom_differ, rank_differ = rank_differ, ties = ties,
        first = first } }
  end,
}
"""


def rank_check():
    f, ev = site_rule_evidence("99-test-rank.lua", RANK_RULE, "test.rank")
    check(f is not None and ev.get("groups") == 6000 and ev.get("ties", 0) > 100 and ev.get("dominant_differ") == 0
          and ev.get("rank_differ") == 0,
          "logs_util.dominant and rank agree with their plain forms: %s" % ev)


rank_check()

def cap_check():
    """More keys than max_groups (2048).  The successes make no cause x key
    pairs (they used to fill them, so the failing domain below was missing
    from its cause's top list); a ranking that left failures out says how
    many.  Past the first 2048 keys seen, a key whose first event is a failure
    still gets a group of its own (up to 1024 more): a destination that starts
    failing late in a busy relay's log is named, with all of its events; a key
    first counted in "(other)" (a success past the cap) stays there, and the
    verdicts say that failures are among those events."""
    q = 0

    def line(out, sec, rcpt_dom, addr, status, text):
        nonlocal q
        q += 1
        out.append("Mar  1 %02d:%02d:%02d mail postfix/smtp[4242]: %010X: to=<u@%s>, relay=%s, delay=1, "
                   "delays=0/0/0/1, dsn=%s, status=%s (%s)" % (
                       sec // 3600, sec // 60 % 60, sec % 60, q, rcpt_dom,
                       "mx.%s[%s]:25" % (rcpt_dom, addr) if status == "sent" else "none",
                       "2.0.0" if status == "sent" else "4.4.1", status, text))

    def refused(out, sec, dom, a):
        line(out, sec, dom, a, "deferred", "connect to mx.%s[%s]:25: Connection refused" % (dom, a))

    def write_run(name, out):
        with open(os.path.join(TMP, name + ".log"), "w") as f:
            f.write("\n".join(out) + "\n")
        return run(name)[1]

    def busy(out):
        for i in range(2100):
            line(out, i, "d%d.test" % i, "2001:db8::%x" % (i + 1), "sent", "250 2.0.0 Ok: queued as X")
        # past the cap, delivered to first: counted in "(other)" from here on
        line(out, 2500, "was-ok.test", "2001:db8:3::1", "sent", "250 2.0.0 Ok: queued as X")
        line(out, 2501, "was-ok2.test", "2001:db8:3::1", "sent", "250 2.0.0 Ok: queued as X")

    lines = []
    busy(lines)
    for i in range(4200):   # a new domain that fails from its first delivery, over 4200 new addresses
        refused(lines, 3000 + i, "many.test", "2001:db8:1::%x" % (i + 1))
    for i in range(10):
        refused(lines, 8000 + i, "late.test", "2001:db8:2::1")
    for i in range(25):
        refused(lines, 9000 + i, "was-ok.test" if i < 20 else "was-ok2.test", "2001:db8:3::1")
    doc = write_run("cap", lines)
    check(finding(doc, "rule.error") is None, "cap: no rule error")
    f = finding(doc, "logs.cause_refused")
    ev = f["evidence"] if f else {}
    doms = [(d["domain"], d["failures"]) for d in ev.get("top_domains", [])]
    check(f is not None and ev.get("failures") == 4235
          and doms == [("many.test", 4200), ("was-ok.test", 20), ("late.test", 10), ("was-ok2.test", 5)],
          "cap: the failing domains are ranked after 2100 domains delivered to: %s" % doms)
    # cause x address pairs (3072): 3072 of many.test's 4200 addresses, then none
    check(ev.get("top_addresses_untracked") == 1128 + 10 + 25 and "top_domains_untracked" not in ev,
          "cap: 4200 - 3072 + 10 + 25 failures at addresses not ranked, none for domains: %s" % {
              k: ev.get(k) for k in ("top_addresses_untracked", "top_domains_untracked")})
    expl = f["explanation"] if f else ""
    check("top lists are incomplete" in expl and "3072 cause/address pairs" in expl
          and "1163 failures at addresses" in expl and "to domains" not in expl,
          "cap: the explanation says the ranking is incomplete, with the count: %r" % expl[-330:])
    sc = finding(doc, "logs.scope")
    sev = sc["evidence"] if sc else {}
    text = (sc["summary"] + " " + sc["explanation"]) if sc else ""
    top = [(d["domain"], d["failures"], d["successes"]) for d in sev.get("top_failing_domains", [])]
    # many.test and late.test came after the cap and failed first: named, every event counted
    check(sev.get("judgement") not in (None, "unnamed") and sev.get("delivery_failures") == 4235
          and sev.get("failing_domains") == 2 and top == [("many.test", 4200, 0), ("late.test", 10, 0)],
          "cap: late failing domains named with all their failures: %s %s" % (sev.get("judgement"), top))
    check("to at least 2048 domains" in text and "the first 2048 seen, then up to 1024 more whose first delivery "
          "failed" in text and "79 events to other domains (25 of them failed deliveries)" in text
          and "may not be all of them" in text,
          "cap: scope says the domain count is a lower bound and that failures went past the cap: %r" % text[-700:])
    # addresses: 2048 first seen, then 1024 of many.test's (failing first); the
    # 52 other delivered ones, many.test's other 3176, late.test's and was-ok's
    # one (2 deliveries, then 25 failures) are counted together
    check("3265 events at other addresses (3211 of them failures or failed attempts)" in text,
          "cap: scope counts the events and failures at other addresses: %r" % text[-420:])
    # the failing domains alone: no domain past the cap, addresses past it
    _, fails = run("cap", "--since", "2024-03-01T00:50:00Z")
    sc = finding(fails, "logs.scope")
    text = sc["explanation"] if sc else ""
    check(sc is not None and "more remote addresses than the memory cap" in text and "1163 events at other "
          "addresses (1163 of them failures" in text and "lower bound" not in text and "more domains" not in text,
          "cap: addresses past the cap alone: said so, nothing about domains: %r" % text[-400:])
    _, small = run("cap", "--since", "2024-03-01T00:50:00Z", "--until", "2024-03-01T01:00:00Z")
    f = finding(small, "logs.cause_refused")
    check(f is not None and f["evidence"]["failures"] == 600 and "incomplete" not in f["explanation"]
          and "top_addresses_untracked" not in f["evidence"],
          "cap: 600 failing addresses fit: no untracked count, no such sentence")
    sc = finding(small, "logs.scope")
    check(sc is not None and sc["evidence"]["judgement"] != "unnamed" and "memory cap" not in sc["explanation"]
          and "at least" not in sc["explanation"],
          "cap: under the cap the scope names the failing domain and says nothing of a cap: %s" % (
              sc["evidence"]["judgement"] if sc else None))
    # Every failing domain had been delivered to past the cap before it failed:
    # none can be named.  logs.scope crashed on this ("attempt to index a nil
    # value"): its verdicts compare named failing destinations.
    lines = []
    busy(lines)
    for i in range(30):
        refused(lines, 9000 + i, "was-ok.test" if i % 3 else "was-ok2.test", "2001:db8:3::1")
    doc = write_run("cap_unnamed", lines)
    check(finding(doc, "rule.error") is None, "cap_unnamed: no rule error")
    sc = finding(doc, "logs.scope")
    sev = sc["evidence"] if sc else {}
    text = (sc["summary"] + " " + sc["explanation"]) if sc else ""
    check(sev.get("judgement") == "unnamed" and sc["severity"] == "warn" and sev.get("delivery_failures") == 30
          and sev.get("failing_domains") == 0 and "connection refused" in sc["summary"],
          "cap_unnamed: scope judgement unnamed, warn, 30 delivery failures, none named: %s" % {
              k: sev.get(k) for k in ("judgement", "delivery_failures", "failing_domains")})
    check("was delivered to before its first failure" in text and "84 events to other domains (30 of them failed "
          "deliveries)" in text and "84 events at other addresses (30 of them failures" in text,
          "cap_unnamed: says why none is named and what went past the cap: %r" % text[-700:])
    # past the cap with successes only: no failure hidden, said so
    lines = []
    busy(lines)
    refused(lines, 9000, "fresh.test", "2001:db8:4::1")
    doc = write_run("cap_ok", lines)
    sc = finding(doc, "logs.scope")
    text = sc["explanation"] if sc else ""
    check(sc is not None and "no failed delivery is among them, so every domain with failed deliveries is named"
          in text and "none of them is a failure or a failed attempt" in text
          and [d["domain"] for d in sc["evidence"].get("top_failing_domains", [])] == ["fresh.test"],
          "cap_ok: a failing domain past the cap is named, and no failure is hidden: %r" % text[-600:])


cap_check()

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Limits of the Lua side that a rule (or a log) can reach, each hit for real
(RULES.md, section Limits): MAX_RULES, JSON_DECODE_MAX, the log module's
MAX_EVENTS / MAX_FILES / TEXT_MAX and the call gate's GATE_CACHE_MAX
eviction. Rules are written into a temporary directory and run against
127.0.0.1:9 with --only, so nothing goes to the network."""
import json, os, re, subprocess, sys, tempfile

MX = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="mxdiag-limits-")
MIB = 1 << 20
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def rule_dir(name, rules):
    d = os.path.join(TMP, name)
    os.makedirs(d)
    for rid, body in rules.items():
        with open(os.path.join(d, rid + ".lua"), "w") as f:
            f.write('return { id = "%s", description = "limit test", codes = { ["lim.result"] = "info" },\n'
                    '  run = function(target, report)\n%s\n  end }\n' % (rid, body))
    return d


def run_rule(d, rid, *extra):
    p = subprocess.run([MX, "check", "127.0.0.1:9", "--json", "--rules-dir", d, "--only", rid] + list(extra),
                       capture_output=True, text=True, timeout=300)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        failures.append("%s: no JSON (exit %d): %s" % (rid, p.returncode, p.stderr[-500:]))
        return {}
    fs = [f for f in doc["findings"] if f["rule"] == rid]
    if len(fs) != 1 or fs[0]["code"] != "lim.result":
        failures.append("%s: %s" % (rid, [(f["code"], f["summary"]) for f in fs]))
        return {}
    return fs[0].get("evidence", {})


# ---- MAX_RULES (bindings/rt_private.h): 512 rules load, the 513th is a loader error
# (a runtime loads one kind: rules list's [logs] lines come from a second one)
def check_rules(r):
    return [l for l in r.stdout.splitlines() if "[logs]" not in l]


def rules_loaded(extra_dir=None):
    args = [MX, "rules", "list"] + (["--rules-dir", extra_dir] if extra_dir else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


shipped = len(check_rules(rules_loaded()))
room = 512 - shipped
d = rule_dir("max_rules", {"lim-r%03d" % i: "" for i in range(room)})
r = rules_loaded(d)
check(r.returncode == 0 and len(check_rules(r)) == 512, "MAX_RULES: %d shipped + %d site rules = 512 load" % (shipped, room))
with open(os.path.join(d, "lim-over.lua"), "w") as f:
    f.write('return { id = "lim-over", description = "one too many", codes = {}, run = function() end }\n')
r = rules_loaded(d)
check(r.returncode != 0 and "too many rules (limit 512)" in r.stderr, "MAX_RULES: the 513th rule is refused: %s" % r.stderr.strip()[:200])

# ---- JSON_DECODE_MAX (bindings/l_util.c): 16 MiB decodes, one byte more is an argument error
d = rule_dir("json", {
    "lim-json-at": '''    local s = '"' .. string.rep("a", 16 * 1024 * 1024 - 2) .. '"'
    local v = util.json_decode(s)
    report:finding{ code = "lim.result", summary = "decoded", evidence = { size = #s, decoded = #v } }''',
    "lim-json-over": '''    local s = '"' .. string.rep("a", 16 * 1024 * 1024 - 1) .. '"'
    local ok, err = pcall(util.json_decode, s)
    report:finding{ code = "lim.result", summary = "refused", evidence = { size = #s, ok = ok, err = tostring(err) } }''',
})
ev = run_rule(d, "lim-json-at")
check(ev.get("size") == 16 * MIB and ev.get("decoded") == 16 * MIB - 2, "JSON_DECODE_MAX: 16 MiB of JSON text decodes (%s)" % ev)
ev = run_rule(d, "lim-json-over")
check(ev.get("size") == 16 * MIB + 1 and ev.get("ok") is False and "larger than 16 MiB" in ev.get("err", ""),
      "JSON_DECODE_MAX: 16 MiB + 1 is an argument error (%s)" % ev.get("err"))

# ---- log module (bindings/l_log.c): MAX_EVENTS, MAX_FILES, TEXT_MAX
LINE = ("Mar  1 10:43:00 mx postfix/smtp[102]: 3C4D5E6F7A: to=<u%d@x.test>, relay=none, delay=60, "
        "delays=0.1/0/60/0, dsn=4.4.1, status=deferred (connect to mx.x.test[192.0.2.1]:25: Connection timed out)\n")
big = os.path.join(TMP, "big.log")
with open(big, "w") as f:
    f.writelines(LINE % i for i in range(100001))
longtext = os.path.join(TMP, "long.log")
with open(longtext, "w") as f:
    f.write("Mar  1 10:43:00 mx postfix/smtp[102]: 3C4D5E6F7A: to=<carol@x.test>, relay=mx.x.test[192.0.2.1]:25, "
            "delay=1, delays=0.1/0/0.5/0, dsn=5.7.1, status=bounced (host mx.x.test[192.0.2.1] said: 550 5.7.1 "
            + "R" * 2000 + " (in reply to RCPT TO command))\n")
d = rule_dir("log", {
    "lim-log-events": '''    local it, info = log.events{ files = { "%s" }, limit = 100000 }
    local n = 0
    for ev in it do n = n + 1 end
    local ok, err = pcall(log.events, { files = { "%s" }, limit = 100001 })
    report:finding{ code = "lim.result", summary = "events", evidence = { n = n, count = info.count,
      matched = info.matched, truncated = info.truncated, over_ok = ok, over_err = tostring(err) } }''' % (big, big),
    "lim-log-files": '''    local files = {}
    for i = 1, 64 do files[i] = "%s" end
    local it, info = log.events{ files = files, limit = 1 }
    files[65] = "%s"
    local ok, err = pcall(log.events, { files = files })
    report:finding{ code = "lim.result", summary = "files", evidence = { read = #info.files, over_ok = ok,
      over_err = tostring(err) } }''' % (longtext, longtext),
    "lim-log-text": '''    local n, len = 0, -1
    for ev in log.events{ files = { "%s" } } do n = n + 1; len = #(ev.reply or "") end
    report:finding{ code = "lim.result", summary = "text", evidence = { n = n, len = len } }''' % longtext,
})
ev = run_rule(d, "lim-log-events")
check(ev.get("n") == 100000 and ev.get("count") == 100000 and ev.get("matched") == 100001 and ev.get("truncated") is True,
      "MAX_EVENTS: 100 001 matching events give 100 000 and truncated = true (%s)" % {k: ev.get(k) for k in ("n", "matched", "truncated")})
check(ev.get("over_ok") is False and "limit: an integer from 1 to 100000" in ev.get("over_err", ""),
      "MAX_EVENTS: limit = 100001 is an argument error")
ev = run_rule(d, "lim-log-files")
check(ev.get("read") == 64 and ev.get("over_ok") is False and "at most 64 files" in ev.get("over_err", ""),
      "MAX_FILES: 64 files are read, 65 are an argument error (%s)" % ev)
ev = run_rule(d, "lim-log-text")
check(ev.get("n") == 1 and ev.get("len") == 512, "TEXT_MAX: a 2000-byte reply text reaches Lua as 512 bytes (%s)" % ev)

# ---- GATE_CACHE_MAX (bindings/rt_private.h): the 65 536 newest answers are kept, older ones evicted (FIFO).
# sys.read_file is cacheable: A, 65 535 other paths, A (answered from the cache: no new call), one more path
# (A is now the oldest of 65 537: evicted), A again (a real call). The recording holds real calls only.
cfg = os.path.join(TMP, "cfg")
os.makedirs(cfg)
with open(os.path.join(cfg, "a"), "w") as f:
    f.write("A\n")
d = rule_dir("cache", {"lim-cache": '''    local dir = "%s"
    local a1 = sys.read_file(dir .. "/a")
    for i = 1, 65535 do sys.read_file(dir .. "/m" .. i) end
    local a2 = sys.read_file(dir .. "/a")
    sys.read_file(dir .. "/m65536")
    local a3 = sys.read_file(dir .. "/a")
    report:finding{ code = "lim.result", summary = "cache", evidence = { a = a1 .. a2 .. a3 } }''' % cfg})
rec = os.path.join(TMP, "rec.json")
ev = run_rule(d, "lim-cache", "--config-dir", cfg, "--record", rec)
calls = json.load(open(rec))
calls = calls.get("calls", calls) if isinstance(calls, dict) else calls
paths = [c["args"].get("path") for c in calls if isinstance(c, dict) and c.get("call") == "sys.read_file"]
check(ev.get("a") == "A\nA\nA\n" and len(paths) == 65538 and paths.count(cfg + "/a") == 2,
      "GATE_CACHE_MAX: %d real reads, %d of the first path (want 65 538 and 2: cached once, evicted after 65 536 newer)"
      % (len(paths), paths.count(cfg + "/a")))

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)

#!/usr/bin/env python3
"""Strangers' bytes never reach a terminal raw (issue 16, point 4 and 6).

Every shipped recording is replayed with control bytes planted in what the
world sent: SMTP reply text (greetings, EHLO domain, rejections), certificate
subject, issuer and SAN names, DNS TXT answers (DNSBL reasons). The planted
text holds ESC sequences, BEL, BS, CR, DEL, a raw C1 byte, U+009B (C1 as
UTF-8), U+202E (bidi override) and invalid UTF-8 (0xff, an overlong, a
surrogate). Each output medium must show them escaped:
  check text, --format nagios, --letter, --trace (stderr): no control byte
  but '\\n', valid UTF-8, and the escape visible; nagios: one line, the only
  '|' is ours; --json: parses and holds the bytes as escapes; batch csv,
  prometheus and summary: the same, CSV formula cells neutralised.
Also `logs` text on a log file with control bytes in domain and reply,
`local --sysroot` with a listener process named with ESC, and stderr echoing
a bad target. usage: test_escape.py MXDIAG SOURCE_DIR"""
import json, os, re, shutil, subprocess, sys, tempfile

mx, src = sys.argv[1], sys.argv[2]
shipped = os.path.join(src, "tests", "rules", "shipped")
tmp = tempfile.mkdtemp(prefix="mxdiag-escape-")
failures = []
ENV = dict(os.environ, NO_COLOR="1", MXDIAG_RULES_PATH="")

# One word (no space, no newline) so that it stays inside an EHLO domain or a
# SAN; \ue000 marks where raw invalid UTF-8 goes (JSON cannot carry it).
PLANT = "\x1b]0;owned\x07\x1b[2J\x08\r\x7f\u009b\u202e\ue000"
RAW_BAD = b"\xff\xc0\xaf\xed\xa0\x80\x9b"
BAD_CP = set(range(0x00, 0x20)) | {0x7f} | set(range(0x80, 0xa0)) | {0x202e}


def plant(s):
    return s + PLANT if s else PLANT


def dump(doc):
    """JSON bytes with the raw invalid UTF-8 put in place of the marker."""
    return json.dumps(doc).encode().replace(b"\\ue000", RAW_BAD)


def hostile_recording(path, mode="plain"):
    """The recording with PLANT in what the world sent. mode "nostarttls":
    EHLO without STARTTLS (smtp.starttls_missing shows the EHLO domain);
    "mismatch": only planted SANs and name_ok false (tls.cert_name_mismatch
    shows them in its summary)."""
    doc = json.load(open(path))
    n = 0
    for c in doc["calls"]:
        r = c.get("result")
        if not isinstance(r, dict):
            continue
        if mode == "nostarttls" and c["call"] == "net.read_reply" and "STARTTLS" in (r.get("lines") or []):
            r["lines"].remove("STARTTLS")
        if mode == "mismatch" and c["call"] == "net.starttls" and isinstance(r.get("sans"), list):
            r["sans"] = ["mx." + PLANT + ".test"]
            r["name_ok"] = False
        if c["call"] == "net.read_reply" and r.get("lines"):
            # the first line: the greeting text, the EHLO domain (first word), a rejection
            first = r["lines"][0].split(" ", 1)
            first[0] = first[0] + PLANT if r.get("code") == 250 else first[0]
            if r.get("code") != 250:
                first.append(PLANT)
            r["lines"][0] = " ".join(first)
            r["text"] = "\n".join(r["lines"])
            n += 1
        elif c["call"] == "net.starttls":
            for k in ("subject", "issuer"):
                if isinstance(r.get(k), str):
                    r[k] = plant(r[k])
            if isinstance(r.get("sans"), list):
                r["sans"].append("evil" + PLANT + ".test")
            for ch in r.get("chain") or []:
                if isinstance(ch, dict) and isinstance(ch.get("subject"), str):
                    ch["subject"] = plant(ch["subject"])
            n += 1
        elif c["call"] == "dns.query" and c["args"].get("type") == "TXT":
            for a in r.get("answers") or []:
                if a.get("type") == "TXT":
                    a["data"] = "listed " + PLANT + " see http://x.test/"
                    n += 1
    return doc, n


def bad_chars(data, allow="\n"):
    """What is wrong with output bytes meant for a terminal: [] when clean."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return ["invalid UTF-8 at byte %d: %r" % (e.start, data[max(0, e.start - 20):e.start + 20])]
    out = []
    for i, ch in enumerate(text):
        if ord(ch) in BAD_CP and ch not in allow:
            out.append("U+%04X at %d: %r" % (ord(ch), i, text[max(0, i - 30):i + 10]))
    return out[:5]


def strings(v):
    """Every string in a JSON value, joined."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return " ".join(strings(k) + " " + strings(x) for k, x in v.items())
    if isinstance(v, list):
        return " ".join(strings(x) for x in v)
    return ""


def run(args, allow_fail=False):
    p = subprocess.run([mx] + args, capture_output=True, timeout=120, env=ENV, stdin=subprocess.DEVNULL)
    if p.returncode not in (0, 1, 2, 3) and not allow_fail:
        failures.append("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr[-500:]))
    return p


def expect_clean(what, data, allow="\n", visible=True):
    bad = bad_chars(data, allow)
    if bad:
        failures.append("%s: raw control or invalid bytes reach the output: %s" % (what, bad))
    if visible and b"\\x1b" not in data:
        failures.append("%s: the planted ESC is not shown escaped (\\x1b) -- did the hostile text reach it?" % what)


# (name, recording, mode, extra options): every shipped recording, and the
# healthy one three more ways so that EHLO domains, SAN lists and DNSBL TXT
# reasons (the sender 127.0.0.2 is the lists' test point) reach findings
contrib = os.path.join(src, "contrib", "rules")
cases = [(n, os.path.join(shipped, n, "recording.json"), "plain", []) for n in sorted(os.listdir(shipped))]
cases += [(n, os.path.join(contrib, "tests", n, "recording.json"), "plain", ["--rules-dir", contrib])
          for n in sorted(os.listdir(os.path.join(contrib, "tests")))]
healthy = os.path.join(shipped, "healthy", "recording.json")
cases += [("healthy-nostarttls", healthy, "nostarttls", []), ("healthy-mismatch", healthy, "mismatch", []),
          ("healthy-dnsbl", healthy, "plain", ["--sender-ip", "127.0.0.2"])]

codes_seen = set()
for name, rec, mode, extra in cases:
    if not os.path.exists(rec):
        continue
    doc, planted = hostile_recording(rec, mode)
    if planted == 0:
        continue
    if "--sender-ip" in extra:
        # a replay runs with the recorded options: record the sender too (the
        # command line then restates it, which a replay accepts)
        doc["options"]["sender_ips"] = [extra[extra.index("--sender-ip") + 1]]
    hrec = os.path.join(tmp, name + ".json")
    open(hrec, "wb").write(dump(doc))
    target = doc["checks"][0]["target"]
    # the recorded options (a replay answers only the calls made with them)
    opts = ["--allow-reserved", "--timeout", str(doc["options"].get("timeout", 3))] + extra
    base = ["check", target, "--replay", hrec] + opts
    j = run(base + ["--json"])
    try:
        jd = json.loads(j.stdout)
    except ValueError as e:
        failures.append("%s json: does not parse: %s" % (name, e))
        continue
    expect_clean(name + " json", j.stdout, allow="\n", visible=False)
    hit = [f["code"] for f in jd["findings"] if "\x1b" in strings(f)]
    codes_seen.update(hit)
    if not hit:
        continue  # nothing of it reached a finding: text outputs have nothing to show
    # -vv shows every finding with its evidence (the planted text must show,
    # escaped); the compact default may fold the finding that holds it away
    expect_clean(name + " text -vv", run(base + ["-vv"]).stdout)
    expect_clean(name + " text", run(base).stdout, visible=False)
    expect_clean(name + " text -q", run(base + ["-q"]).stdout, visible=False)
    # no failure found: no letter, only a paragraph saying so (the planted text need not reach it)
    lt = run(base + ["--letter"]).stdout
    expect_clean(name + " letter", lt, visible=not lt.startswith(b"No letter"))
    n = run(base + ["--format", "nagios"]).stdout
    # one line: not even '\n' inside; the worst summary may not hold the planted text
    expect_clean(name + " nagios", n[:-1], allow="", visible=False)
    if n.count(b"\n") != 1 or not n.endswith(b"\n") or n.count(b"|") != 1:
        failures.append("%s nagios: not one line with one perfdata '|': %r" % (name, n))
    t = run(base + ["--trace"])
    expect_clean(name + " trace (stderr)", t.stderr)
    lst = os.path.join(tmp, name + ".list")
    open(lst, "w").write(target + "\n")
    bb = ["batch", "--plain", "--replay", hrec] + opts
    c = run(bb + ["--format", "csv", "-q", lst]).stdout
    expect_clean(name + " batch csv", c.replace(b"\r\n", b"\n"), visible=False)
    p = run(bb + ["--format", "prometheus", "-q", lst]).stdout
    expect_clean(name + " batch prometheus", p, visible=False)
    s = run(bb + ["--format", "summary", lst]).stdout
    expect_clean(name + " batch summary", s, visible=False)
    print("%-12s %d planted, findings showing it: %s" % (name, planted, " ".join(sorted(set(hit)))))

# what the planted text must reach for the test to mean anything
for want in ("smtp.greeting", "smtp.starttls_missing", "tls.ok", "tls.cert_name_mismatch", "dnsbl.listed"):
    if not any(c.startswith(want) for c in codes_seen):
        failures.append("no %s* finding carried the planted text (seen: %s)" % (want, sorted(codes_seen)))

# ---- CSV formula injection, and --resume reading such a CSV back
lst = os.path.join(tmp, "formula.list")
open(lst, "w").write('=HYPERLINK("http://x.test/")@example.org\n+cmd@example.org\n-x@example.org\n@at@example.org\n')
fa = ["--plain", "--only", "mx", "--timeout", "1", "--resolver", "127.0.0.1:9", "-q"]
out = run(["batch", "--format", "csv"] + fa + [lst]).stdout.decode()
for row in out.split("\r\n")[1:]:
    if not row:
        continue
    field = row.split(",", 1)[1]
    cell = field[1:] if field.startswith('"') else field
    if cell[:1] in ("=", "+", "-", "@"):
        failures.append("csv: a cell starts a formula: %r" % row)
resumed = os.path.join(tmp, "formula.csv")
open(resumed, "w").write(out)
r = run(["batch", "--format", "csv", "--resume", resumed] + fa + [lst])
if b"resumed: 4 domains" not in r.stderr and b"resumed: 4 domains" not in r.stdout:
    p2 = run(["batch", "--format", "summary", "--resume", resumed] + fa[:-1] + [lst])
    if b"resumed: 4 domains" not in p2.stdout:
        failures.append("csv --resume: the neutralised cells were not read back as the same domains: %r" % p2.stdout)

# ---- logs text: control bytes in the recipient domain and in the reply
log = os.path.join(tmp, "mail.log")
with open(log, "wb") as f:
    for i in range(3):
        f.write(b"Mar  1 10:4%d:00 mx postfix/smtp[10%d]: 3C4D5E6F7%d: to=<bob@ev\x1b[2Jil\xff.test>, "
                b"relay=mx.evil.test[192.0.2.1]:25, delay=1, delays=0.1/0/0.5/0.4, dsn=5.7.1, status=bounced "
                b"(host mx.evil.test[192.0.2.1] said: 554 5.7.1 go\x1b]0;owned\x07 away\x9b\r\x7f (in reply to RCPT TO command))\n"
                % (i, i, i))
lg = run(["logs", "--now", "2026-03-02T00:00:00Z", log])
expect_clean("logs text", lg.stdout)
lj = run(["logs", "--json", "--now", "2026-03-02T00:00:00Z", log])
try:
    json.loads(lj.stdout)
    expect_clean("logs json", lj.stdout, visible=False)
except ValueError as e:
    failures.append("logs json does not parse: %s" % e)

# ---- local: a listener whose process name holds ESC
root = os.path.join(tmp, "sysroot")
shutil.copytree(os.path.join(src, "tests", "data", "local", "csf-smtpblock"), root, symlinks=True)
os.makedirs(os.path.join(root, "proc", "4242", "fd"))
open(os.path.join(root, "proc", "4242", "comm"), "wb").write(b"ma\x1b[31mst\x07er\x9b\n")
os.symlink("socket:[41001]", os.path.join(root, "proc", "4242", "fd", "3"))
loc = run(["local", "--sysroot", root])
expect_clean("local text", loc.stdout)
locj = run(["local", "--sysroot", root, "--json"])
if b"\\u001b" not in locj.stdout:
    failures.append("local: the process name did not reach the findings (fixture not read?)")

# ---- stderr: a bad target echoed by batch, and by check
bl = os.path.join(tmp, "bad.list")
open(bl, "wb").write(b"a.test\n\x1b[2Jbad\x07domain\x9b.test\n")
be = run(["batch", "--plain", "--only", "mx", "--timeout", "1", "--resolver", "127.0.0.1:9", "-q", bl])
expect_clean("batch stderr (bad entry)", be.stderr)
ce = run(["check", "bad\x1b[2J\x07target.test"], allow_fail=True)
expect_clean("check stderr (bad target)", ce.stderr)

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok: %d finding codes carried planted bytes, all escaped" % len(codes_seen))

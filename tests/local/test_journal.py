#!/usr/bin/env python3
"""`mxdiag logs --journal-file` on a real journal: the project's own test
lines (tests/data/logs/lines.tsv) written as journal entries by
systemd-journal-remote (Debian package systemd-journal-remote), read back
through sd-journal, must give the same report as the same lines in a log
file; entries of other programs are left out; binary, over-long and
multi-line messages get the same treatment as in a file; a journal without
MTA entries and unreadable journals are reported clearly."""
import json, os, re, shutil, struct, subprocess, sys, tempfile

mx = os.path.abspath(sys.argv[1])
lines_tsv = sys.argv[2]
REMOTE = "/lib/systemd/systemd-journal-remote"
failures = []
tmp = tempfile.mkdtemp(prefix="mxdiag-journal-")
NOW = "2026-01-01T00:00:00Z"
BOOT = "0123456789abcdef0123456789abcdef"

if not os.access(REMOTE, os.X_OK):
    print("FAIL: %s is missing: apt-get install systemd-journal-remote (it writes the test journal)" % REMOTE)
    sys.exit(1)


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
            out += {"\\": b"\\", "0": b"\0", "r": b"\r", "t": b"\t"}.get(n, ("\\" + n).encode()); i += 2
            continue
        out += c.encode("utf-8"); i += 1
    return bytes(out)


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
SYSLOG = re.compile(rb"^([A-Z][a-z]{2}) +(\d+) (\d\d):(\d\d):(\d\d)(?:\.\d+)? (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$", re.S)
EXIM = re.compile(rb"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d+)?(?: [+-]\d{4})? (.*)$", re.S)


def epoch(y, mo, d, h, mi, s):
    import calendar
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


# entries: (realtime seconds, host or None, identifier, pid or None, message bytes)
entries = []
base = epoch(2025, 6, 1, 12, 0, 0)
for row in open(lines_tsv, encoding="utf-8"):
    row = row.rstrip("\n")
    if not row or row.startswith("#"):
        continue
    f = row.split("\t", 7)
    if len(f) < 8:
        continue
    how, line = f[0], unescape(f[7])
    if how != "line":
        # a bare message of the program named in the first column
        entries.append((base + len(entries), None, how, "4%03d" % len(entries), line))
        continue
    m = SYSLOG.match(line)
    if m:
        # the parser read it as this year or last (now = 2026-01-01): "Jan" 2026, else 2025
        mon = MONTHS.index(m.group(1).decode()) + 1
        t = epoch(2026 if mon == 1 else 2025, mon, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))
        entries.append((t, m.group(6).decode("utf-8", "replace"), m.group(7).decode("utf-8", "replace"),
                        m.group(8).decode() if m.group(8) else None, m.group(9)))
        continue
    m = EXIM.match(line)
    if m:
        t = epoch(*(int(m.group(i)) for i in range(1, 7)))
        entries.append((t, "mx1", "exim", "77", m.group(7)))

# The journal is read for the MTAs' identifiers only (postfix and postfix-NAME
# ".../service", exim*, sendmail, sm-*): the rows of other programs (qmail,
# dovecot, smtpd, a "mail.info" level token) are the journal's other entries.
def is_mta(ident):
    return ((ident.startswith("postfix") and "/" in ident) or ident.startswith("exim") or ident == "sendmail"
            or (ident.startswith("sm-") and len(ident) > 3))


skipped = [e for e in entries if not is_mta(e[2])]
entries = [e for e in entries if is_mta(e[2])]
if len(skipped) > 8 or len(entries) < 150:
    print("FAIL: lines.tsv gave %d MTA entries and %d others: the conversion is broken" % (len(entries), len(skipped)))
    sys.exit(1)
# the same program's lines that a file would hold, plus what the journal adds
entries.append((base + 500, "mx1", "postfix/smtp", "999",
                b"ABCDEF0123: to=<multi@dest.example>, relay=mx.dest.example[192.0.2.10]:25, delay=1, "
                b"delays=0/0/0.5/0.5, dsn=4.4.2,\nstatus=deferred (lost connection with mx.dest.example[192.0.2.10] "
                b"while receiving the initial server greeting)"))
entries.append((base + 501, "mx1", "postfix/smtp", "998", b"to=<long@dest.example>, " + b"x" * (70 * 1024)))
entries.append((base + 502, "mx1", "postfix/smtp", "997", b"to=<bin@dest.example>, status=sent \0 (250 ok)"))
# other programs: never read from the journal
others = skipped + [(base + 600, "mx1", "sshd", "22", b"Accepted publickey for root from 192.0.2.99"),
          (base + 601, "mx1", "postfixadmin", "23", b"status=deferred (connect to x[192.0.2.1]:25: Connection refused)"),
          (base + 602, "mx1", "dovecot", "24", b"lmtp(rose): saved mail to INBOX")]


def export(entries):
    out = bytearray()
    for i, (t, host, ident, pid, msg) in enumerate(entries):
        def field(k, v):
            nonlocal out
            if isinstance(v, str):
                v = v.encode("utf-8")
            if b"\n" in v or any(c < 0x20 and c not in (9,) for c in v):
                out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
            else:
                out += k.encode() + b"=" + v + b"\n"
        field("__REALTIME_TIMESTAMP", str(t * 1000000 + i))
        field("__MONOTONIC_TIMESTAMP", str(1000 + i))
        field("_BOOT_ID", BOOT)
        field("SYSLOG_IDENTIFIER", ident)
        if host is not None:
            field("_HOSTNAME", host)
        if pid is not None:
            field("SYSLOG_PID", pid)
        field("MESSAGE", msg)
        out += b"\n"
    return bytes(out)


def write_journal(name, ents):
    path = os.path.join(tmp, name + ".journal")
    exp = os.path.join(tmp, name + ".export")
    open(exp, "wb").write(export(ents))
    p = subprocess.run([REMOTE, "-o", path, exp], capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not os.path.exists(path):
        print("FAIL: systemd-journal-remote could not write %s: %s" % (path, p.stderr))
        sys.exit(1)
    return path


def as_line(i, e):
    import datetime
    t, host, ident, pid, msg = e
    ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    head = "%s.%06dZ %s %s%s: " % (ts, i, host or "localhost", ident, "[%s]" % pid if pid else "")
    return head.encode() + msg.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"


journal = write_journal("mail", entries + others)
logfile = os.path.join(tmp, "mail.log")
with open(logfile, "wb") as f:
    for i, e in enumerate(entries):
        f.write(as_line(i, e))


def logs(*args, rc=None):
    p = subprocess.run([mx, "logs", "--utc", "--now", NOW, *args], capture_output=True, timeout=120,
                       env=dict(os.environ, NO_COLOR="1", COLUMNS="100"))
    if rc is not None and p.returncode not in rc:
        failures.append("logs %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


fj = logs("--json", logfile, rc=(0, 1, 2, 3))
jj = logs("--json", "--journal-file", journal, rc=(0, 1, 2, 3))
try:
    fdoc, jdoc = json.loads(fj.stdout), json.loads(jj.stdout)
except ValueError as e:
    print("FAIL: no JSON document: %s\n%r\n%r" % (e, fj.stdout[:300], jj.stderr[:300]))
    sys.exit(1)

jf = jdoc["files"]
if len(jf) != 1 or jf[0].get("journal") is not True or jf[0]["path"] != "systemd journal: " + journal:
    failures.append("the journal is not the one source named in files: %r" % jf)
if jdoc["lines"] != len(entries):
    failures.append("the journal gave %d lines, want %d (one per MTA entry; sshd, postfixadmin, dovecot left out)"
                    % (jdoc["lines"], len(entries)))
if fdoc["lines"] != len(entries):
    failures.append("the log file gave %d lines, want %d" % (fdoc["lines"], len(entries)))
if jdoc["events"] < 100:
    failures.append("only %d events from the journal" % jdoc["events"])
for key in ("events", "ignored", "filtered", "unparsed", "status", "exit_code", "findings"):
    if jdoc[key] != fdoc[key]:
        failures.append("journal and log file differ in %s:\n  journal %s\n  file    %s"
                        % (key, json.dumps(jdoc[key])[:1500], json.dumps(fdoc[key])[:1500]))
reasons = jdoc["unparsed"]["reasons"]
if reasons.get("too_long") != 1 or reasons.get("binary", 0) < 2:
    failures.append("over-long and binary messages not treated as in a file: %r" % reasons)
codes = {f["code"] for f in jdoc["findings"]}
if "logs.cause_greeting_lost" not in codes:
    failures.append("the multi-line message (greeting lost) was not read as one line: %r" % sorted(codes))

# text: the same report, the journal named as the source
tj = logs("--journal-file", journal).stdout.decode()
if "systemd journal: " + journal not in tj or "status: " + jdoc["status"] not in tj:
    failures.append("text report does not name the journal or the status: %r" % tj[:400])

# --journal-dir: the directory holding it
jd = os.path.join(tmp, "dir")
os.makedirs(jd)
shutil.copy(journal, jd)
dd = logs("--json", "--journal-dir", jd, rc=(0, 1, 2, 3))
try:
    ddoc = json.loads(dd.stdout)
    if ddoc["events"] != jdoc["events"] or ddoc["files"][0]["path"] != "systemd journal: " + jd:
        failures.append("--journal-dir: %d events, files %r" % (ddoc["events"], ddoc["files"]))
except ValueError:
    failures.append("--journal-dir: no JSON document: %r" % dd.stderr)

# a journal with no MTA entries: said on stderr, nothing checked (exit 3)
empty = write_journal("other", others)
e = logs("--journal-file", empty, rc=(3,))
err = e.stderr.decode()
if "holds no entries of postfix, exim or sendmail" not in err:
    failures.append("a journal without MTA entries is not reported: %r" % err)
if "--journal" not in e.stdout.decode().replace("\n", " "):
    failures.append("the 'no lines' advice does not point at --journal: %r" % e.stdout[:600])

# errors: a missing file, files and journal together, file and dir together
for args, want in ((["--journal-file", os.path.join(tmp, "nope.journal")], "No such file"),
                   (["--journal", logfile], "not both"),
                   (["--journal-file", journal, "--journal-dir", jd], "do not go together"),
                   (["--journal-dir", os.path.join(tmp, "nodir")], "No such file")):
    p = logs(*args, rc=(3,))
    if want not in p.stderr.decode():
        failures.append("logs %s: no clear error (%r)" % (" ".join(args), p.stderr))

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("journal: %d entries (%d events) read back through sd-journal as from a log file; ok"
      % (len(entries) + len(others), jdoc["events"]))

#!/usr/bin/env python3
"""`mxdiag logs` without FILE on a machine with no mail log file (a Debian 12
without rsyslog): it reads this machine's systemd journal when that holds
the MTA's entries and says so; when it holds none, it says where it looked
and what to do; a mail log file, when there is one, still wins. Runs mxdiag
in a private mount namespace (unshare -m, root) whose /var/log is a test
directory holding a journal written by systemd-journal-remote under this
machine's id, and whose /run/log is empty. Exit 77 (skipped) when not root,
like the other namespace tests."""
import json, os, shutil, subprocess, sys, tempfile

mx = os.path.abspath(sys.argv[1])
REMOTE = "/lib/systemd/systemd-journal-remote"
if os.geteuid() != 0:
    print("needs root (a private mount namespace over /var/log): skipped")
    sys.exit(77)
if not os.access(REMOTE, os.X_OK):
    print("FAIL: %s is missing: apt-get install systemd-journal-remote" % REMOTE)
    sys.exit(1)
try:
    MID = open("/etc/machine-id").read().strip()
except OSError as e:
    print("FAIL: /etc/machine-id: %s (sd-journal finds this machine's journal by it)" % e)
    sys.exit(1)
failures = []
tmp = tempfile.mkdtemp(prefix="mxdiag-journal-default-")
T0 = 1772359200  # 2026-03-01T10:00:00Z
MTA = [("postfix/smtp", "1A2B3C4D5E: to=<a@dest.example>, relay=mx.dest.example[192.0.2.10]:25, delay=1, "
                        "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)"),
       ("postfix/smtp", "2B3C4D5E6F: to=<b@refuse.example>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, "
                        "status=deferred (connect to mx.refuse.example[198.51.100.20]:25: Connection refused)"),
       ("postfix/qmgr", "2B3C4D5E6F: from=<me@src.example>, size=300, nrcpt=1 (queue active)")]
OTHER = [("sshd", "Accepted publickey for root from 192.0.2.99"), ("CRON", "(root) CMD (true)")]


def journal_dir(name, entries, mail_log=None):
    """A /var/log stand-in: journal/MACHINE-ID/system.journal (+ mail.log)."""
    root = os.path.join(tmp, name)
    jd = os.path.join(root, "journal", MID)
    os.makedirs(jd)
    exp = os.path.join(tmp, name + ".export")
    with open(exp, "w") as f:
        for i, (ident, msg) in enumerate(entries):
            f.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                    "_MACHINE_ID=%s\n_HOSTNAME=mx1\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\nMESSAGE=%s\n\n"
                    % ((T0 + i) * 1000000, 1000 + i, MID, ident, 200 + i, msg))
    p = subprocess.run([REMOTE, "-o", os.path.join(jd, "system.journal"), exp], capture_output=True, text=True)
    if p.returncode != 0:
        print("FAIL: systemd-journal-remote: %s" % p.stderr)
        sys.exit(1)
    if mail_log:
        with open(os.path.join(root, "mail.log"), "w") as f:
            f.write(mail_log)
    return root


def logs_in(root, *args):
    """mxdiag logs ARGS with root mounted on /var/log (and /run/log emptied)."""
    script = ('mount --bind "$1" /var/log || exit 90; '
              'if [ -d /run/log ]; then mount -t tmpfs none /run/log || exit 91; fi; shift; exec "$@"')
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh", root,
                        mx, "logs", "--utc", "--now", "2026-03-02T00:00:00Z", *args],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, NO_COLOR="1", COLUMNS="200"))
    if p.returncode in (90, 91):
        print("FAIL: cannot set up the mount namespace (exit %d): %s" % (p.returncode, p.stderr))
        sys.exit(1)
    return p


# 1. no mail log, the journal holds postfix's entries: read and said
with_mta = journal_dir("mta", MTA + OTHER)
p = logs_in(with_mta, "--json")
try:
    doc = json.loads(p.stdout)
    f = doc["files"]
    if len(f) != 1 or f[0]["path"] != "systemd journal" or f[0].get("journal") is not True:
        failures.append("no mail log: files is not the journal: %r" % f)
    if doc.get("lines") != len(MTA) or doc.get("events") != 2:
        failures.append("no mail log: %r lines / %r events from the journal, want %d / 2"
                        % (doc.get("lines"), doc.get("events"), len(MTA)))
    if "systemd journal" not in doc.get("note", ""):
        failures.append("no mail log: the JSON note does not say the journal was read: %r" % doc.get("note"))
    if p.returncode != 1:
        failures.append("no mail log: exit %d, want 1 (one destination fails)" % p.returncode)
except (ValueError, KeyError) as e:
    failures.append("no mail log: no JSON report (%s): %r %r" % (e, p.stdout[:300], p.stderr[:300]))
if "reading the MTA's entries in the systemd journal" not in p.stderr:
    failures.append("no mail log: stderr does not say the journal is read: %r" % p.stderr)
t = logs_in(with_mta)
if "systemd journal" not in t.stdout or "no mail log file exists" not in t.stdout:
    failures.append("no mail log, text: the journal is not named as the source: %r" % t.stdout[:500])
# --journal asks for the same journal explicitly, without the note
j = logs_in(with_mta, "--json", "--journal")
try:
    jd = json.loads(j.stdout)
    if jd.get("events") != 2 or "note" in jd:
        failures.append("--journal: %r events, note %r" % (jd.get("events"), jd.get("note")))
except ValueError:
    failures.append("--journal: no JSON report: %r" % j.stderr)

# 2. no mail log, and the journal holds no MTA entries: where we looked, what to do
without = journal_dir("other", OTHER)
p = logs_in(without)
for want in ("none of /var/log/mail.log", "the systemd journal holds no entries of postfix, exim or sendmail",
             "name the log files to read", "--journal-file"):
    if want not in p.stderr:
        failures.append("no mail log, no MTA in the journal: %r missing from %r" % (want, p.stderr))
if p.returncode != 3:
    failures.append("no mail log, no MTA in the journal: exit %d, want 3" % p.returncode)

# 3. a mail log exists: it is read, not the journal
line = ("Mar  1 10:00:01 mx1 postfix/smtp[100]: 9F8E7D6C5B: to=<c@dest.example>, relay=mx.dest.example"
        "[192.0.2.10]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")
both = journal_dir("both", MTA, mail_log=line)
p = logs_in(both, "--json")
try:
    doc = json.loads(p.stdout)
    if [x["path"] for x in doc["files"]] != ["/var/log/mail.log"] or doc["events"] != 1 or "note" in doc:
        failures.append("with a mail log: not read alone: files %r, %r events" % (doc["files"], doc["events"]))
except (ValueError, KeyError) as e:
    failures.append("with a mail log: no JSON report (%s): %r" % (e, p.stderr[:300]))

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("journal by default: read when no mail log exists, reported when it holds no MTA entries, "
      "a mail log preferred: ok")

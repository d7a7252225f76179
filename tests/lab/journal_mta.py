#!/usr/bin/env python3
"""mxdiag logs --journal-dir on a journal written by a real journald for a real Postfix (label lab).

usage: journal_mta.py MXDIAG LAB

Issue 19: journal input from a journal the lab's MTA wrote.  In a private
mount namespace (unshare -m), this test runs Debian's
/lib/systemd/systemd-journald without systemd as PID 1: a tmpfs on
/run/systemd (journald binds its own sockets there: socket, stdout, dev-log;
a drop-in in /run/systemd/journald.conf.d sets Storage=persistent; the
"flushed" flag makes it write to /var/log/journal at once), the test's
directory bound over /var/log/journal, and a tmpfs /dev holding the usual
device nodes (bound from the real /dev) and /dev/log -> journald's dev-log
socket (the machine has no /dev/log to bind over).  A sending Postfix
instance of its own (no maillog_file: it logs through syslog(3) to /dev/log,
as a Debian Postfix does under systemd) delivers one message per recipient
below; at the same time the lab's sending Postfix (postfix-tx, maillog_file)
delivers the same recipients.  Both send from 198.51.100.5 with the same
settings, so they see the same outcomes.

`mxdiag logs --journal-dir DIR --json` must give each recipient's known cause
and status, and the same verdict (status, finding codes, each cause's domains
and per-status counts, external successes and failures) as `mxdiag logs
--json` over postfix-tx's file log for the same sends.
Exit 77 (skip) when the lab cannot run here."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

STATE = "/run/mxdiag-lab"
NS = "mxlab"                 # the lab's network namespace (tests/lab/lab)
TXLOG = STATE + "/log/postfix-tx.log"
TX_SUBMIT = "127.0.0.5:25"   # postfix-tx's submission smtpd
JX_SUBMIT = "127.0.0.1:2525"  # this test's instance's submission smtpd (Postfix wants inet_interfaces
                             # to be an address an interface has: 127.0.0.1; not port 25, the lab's)
JOURNALD = "/lib/systemd/systemd-journald"

# recipient -> (cause, status) for Postfix from 198.51.100.5 (tests/lab/SCENARIOS.md); no dropped
# addresses: a connect timeout costs smtp_connect_timeout (5 s) per address
EXPECT = {
    "user@refused.test": ("refused", "deferred"),
    "user@rejected.test": ("refused", "deferred"),
    "user@hostunreach.test": ("unreachable", "deferred"),
    "user@netunreach.test": ("net_unreachable", "deferred"),
    "user@nullmx.test": ("null_mx", "bounced"),
    "user@nonexistent.test": ("domain_not_found", "bounced"),
    "user@reject554.test": ("greeting_reject", "deferred"),   # Postfix defers on a 554 greeting (next MX)
    "user@tempfail421.test": ("greeting_reject", "deferred"),
}
# each bounced message's notice goes to lab@sender.test, whose receiver knows only user@ and
# postmaster@: rejected 550 at RCPT, a bounce of its own (the same in postfix-tx's log)
NOTICES = sum(1 for c, st in EXPECT.values() if st == "bounced")
SENT = ["user@healthy.test", "user@backup.test", "user@aonly.test"]   # backup: via mx2 after a refused primary
RCPTS = sorted(EXPECT) + SENT

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what)
    return cond


# The instance's main.cf: postfix-tx's (tests/lab/lab write_postfix_tx) without maillog_file.
MAIN_CF = """# mxdiag lab test journal_mta: sending Postfix logging through syslog to journald
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = lab-journal.sender.test
mydomain = sender.test
myorigin = sender.test
mydestination =
local_recipient_maps =
relay_domains =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtp_bind_address = 198.51.100.5
biff = no
smtputf8_enable = no
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_connect_timeout = 5s
smtp_helo_timeout = 10s
smtp_starttls_timeout = 10s
smtp_mail_timeout = 10s
smtp_rcpt_timeout = 10s
smtp_data_init_timeout = 10s
smtp_data_xfer_timeout = 10s
smtp_data_done_timeout = 10s
smtp_quit_timeout = 5s
smtp_per_request_deadline = yes
smtp_tls_security_level = may
smtp_tls_CAfile = {state}/tls/ca.pem
smtp_tls_loglevel = 1
smtp_mx_address_limit = 5
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
queue_run_delay = 3600s
bounce_queue_lifetime = 0
delay_warning_time = 0
default_destination_concurrency_limit = 5
initial_destination_concurrency = 5
"""

# chroot column n everywhere (queue under /run); no postlog service: nothing uses maillog_file
MASTER_CF = """pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
{submit} inet n - n - - smtpd
"""

JOURNALD_CONF = """[Journal]
Storage=persistent
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
RateLimitBurst=0
"""

# Runs inside `unshare -m` on the host: the private mounts, journald (in the host's network namespace:
# `ip netns exec` mounts a fresh /sys without /sys/fs/cgroup, and journald refuses to start without
# it: "Failed to acquire cgroup root path: No medium found"), then the Postfix instance and the sends
# (submit.py) in the lab namespace through `ip netns exec`, whose mount namespace is a copy of this
# one (it sees /dev/log and /run/systemd), then everything stopped.  Every wait is bounded.
INNER = r"""
set -euo pipefail
W=$1 NS=$2; shift 2
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run/systemd
mkdir -p /run/systemd/journal /run/systemd/journald.conf.d
touch /run/systemd/journal/flushed
cp "$W/journald.conf" /run/systemd/journald.conf.d/mxlab.conf
mount --bind "$W/journal" /var/log/journal
mkdir -p "$W/realdev"
mount --rbind /dev "$W/realdev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do : >"/dev/$n"; mount --bind "$W/realdev/$n" "/dev/$n"; done
umount -l "$W/realdev"
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
ln -s /run/systemd/journal/dev-log /dev/log
JOURNALD=$1; shift
"$JOURNALD" >"$W/journald.out" 2>&1 &
jpid=$!
stop() {
  ip netns exec "$NS" postfix -c "$W/conf" stop >/dev/null 2>&1 || true
  for i in $(seq 1 50); do ip netns exec "$NS" postfix -c "$W/conf" status >/dev/null 2>&1 || break; sleep 0.1; done
  kill -TERM "$jpid" 2>/dev/null || true
  wait "$jpid" 2>/dev/null || true
}
trap stop EXIT
for i in $(seq 1 50); do [ -S /run/systemd/journal/dev-log ] && break; sleep 0.1; done
[ -S /run/systemd/journal/dev-log ] || { echo "journald did not bind its syslog socket: $(cat "$W/journald.out")" >&2; exit 1; }
ok=""
for i in 1 2 3; do
  if ip netns exec "$NS" postfix -c "$W/conf" start >"$W/postfix-start.out" 2>&1; then ok=1; break; fi
  sleep 1
done
[ -n "$ok" ] || { echo "postfix failed to start: $(cat "$W/postfix-start.out")" >&2; exit 1; }
ip netns exec "$NS" "$@"
"""

# Submits one message per recipient to HOST:25 and waits (<= 60 s) until `read_log` shows every
# recipient's outcome; argv: HOST:PORT MODE(journal|file PATH OFFSET) RCPT...
SUBMIT = r"""
import re, smtplib, subprocess, sys, time, email.utils
hostport, mode, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
host, port = hostport.rsplit(":", 1)
if mode == "file":
    path, off, rcpts = rest[0], int(rest[1]), rest[2:]
else:
    rcpts = rest
for i in range(50):
    try:
        s = smtplib.SMTP(host, int(port), timeout=20)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("nothing listens on %s" % hostport)
with s:
    for r in rcpts:
        msg = ("From: lab <lab@sender.test>\r\nTo: <%s>\r\nSubject: mxdiag lab journal %s\r\n"
               "Date: %s\r\nMessage-ID: <%s.%s@sender.test>\r\n\r\nlab test message\r\n"
               % (r, r, email.utils.formatdate(), time.time(), r.replace("@", ".")))
        s.sendmail("lab@sender.test", [r], msg)
def read_log():
    if mode == "file":
        with open(path, "rb") as f:
            f.seek(off)
            return f.read().decode("utf-8", "replace")
    return subprocess.run(["journalctl", "-D", "/var/log/journal", "-o", "cat", "--no-pager"],
                          capture_output=True, text=True, timeout=20).stdout
for i in range(60):
    text = read_log()
    pending = [r for r in rcpts if not re.search(r"to=<%s>.*status=(sent|deferred|bounced)" % re.escape(r), text)]
    if not pending:
        break
    time.sleep(1)
print("%s: %d submitted, no outcome for: %s" % (hostport, len(rcpts), " ".join(pending) or "-"))
sys.exit(1 if pending else 0)
"""


def logs(mxdiag, *args):
    p = subprocess.run([mxdiag, "logs", "--json", "--utc"] + list(args), capture_output=True, text=True, timeout=60)
    if p.stderr.strip():
        print(p.stderr.strip(), file=sys.stderr)
    return json.loads(p.stdout), p.returncode


def verdict(doc):
    """What must be the same for the same sends, whatever the log's medium."""
    by_code = {f["code"]: f for f in doc["findings"]}
    out = {"status": doc.get("status"), "codes": sorted((f["code"], f["severity"]) for f in doc["findings"])}
    for code, f in sorted(by_code.items()):
        if code.startswith("logs.cause_"):
            ev = f["evidence"]
            out[code] = {"domains": sorted(d["domain"] for d in ev["top_domains"]), "by_status": ev.get("by_status"),
                         "failures": ev.get("failures"), "local_failures": ev.get("local_failures")}
    scope = by_code.get("logs.scope", {}).get("evidence", {})
    out["scope"] = {k: scope.get(k) for k in ("external_successes", "external_failures")}
    return out


def main():
    mxdiag, lab = os.path.abspath(sys.argv[1]), sys.argv[2]
    if subprocess.run([lab, "check"], capture_output=True).returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    if not os.access(JOURNALD, os.X_OK):
        print("FAIL: %s is missing (Debian package systemd)" % JOURNALD)
        return 1
    if not os.path.isdir("/var/log/journal") or not os.path.isdir("/run/systemd"):
        print("FAIL: /var/log/journal and /run/systemd must exist (bind and tmpfs targets)")
        return 1
    w = STATE + "/journal-mta"
    shutil.rmtree(w, ignore_errors=True)
    for sub in ("conf", "queue", "data", "journal"):
        os.makedirs(os.path.join(w, sub))
    os.chmod(os.path.join(w, "queue"), 0o755)
    shutil.chown(os.path.join(w, "data"), "postfix", "postfix")
    os.chmod(os.path.join(w, "data"), 0o700)
    with open(os.path.join(w, "conf", "main.cf"), "w") as f:
        f.write(MAIN_CF.format(d=w, state=STATE))
    with open(os.path.join(w, "conf", "master.cf"), "w") as f:
        f.write(MASTER_CF.format(submit=JX_SUBMIT))
    with open(os.path.join(w, "journald.conf"), "w") as f:
        f.write(JOURNALD_CONF)
    with open(os.path.join(w, "submit.py"), "w") as f:
        f.write(SUBMIT)

    t0 = time.time()
    since = str(int(t0) - 1)
    off = os.path.getsize(TXLOG) if os.path.exists(TXLOG) else 0
    jx = subprocess.Popen(["unshare", "-m", "--propagation", "private", "bash", "-c", INNER, "inner", w, NS,
                           JOURNALD, "python3", os.path.join(w, "submit.py"), JX_SUBMIT, "journal"] + RCPTS,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tx = subprocess.run([lab, "exec", "python3", os.path.join(w, "submit.py"), TX_SUBMIT, "file", TXLOG, str(off)]
                        + RCPTS, capture_output=True, text=True, timeout=120)
    try:
        jout, _ = jx.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        jx.kill()
        jout, _ = jx.communicate()
    print(jout.strip())
    print((tx.stdout + tx.stderr).strip())
    print("sends done in %.1f s" % (time.time() - t0))
    if not check(jx.returncode == 0, "the journald-logging Postfix logged every outcome (exit %d)" % jx.returncode) \
            or not check(tx.returncode == 0, "postfix-tx logged every outcome (exit %d)" % tx.returncode):
        for name in ("journald.out", "postfix-start.out"):
            p = os.path.join(w, name)
            if os.path.exists(p):
                print("%s: %s" % (name, open(p).read()[-2000:]))
        return 1

    jdir = os.path.join(w, "journal")
    files = [os.path.join(r, n) for r, _, ns in os.walk(jdir) for n in ns if n.endswith(".journal")]
    check(len(files) >= 1, "journald wrote a persistent journal file under the test's directory (%s)"
          % [os.path.relpath(p, w) for p in files])
    # the entries are journald's own, with the fields syslog(3) gives it
    p = subprocess.run(["journalctl", "-D", jdir, "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=postfix/smtp"],
                       capture_output=True, text=True, timeout=30)
    ents = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    check(len(ents) >= len(RCPTS), "journal: at least %d postfix/smtp entries (got %d)" % (len(RCPTS), len(ents)))
    check(all(e.get("_TRANSPORT") == "syslog" and e.get("_PID") and e.get("PRIORITY") and e.get("_COMM") == "smtp"
              for e in ents), "journal: entries came through the syslog socket with _PID, PRIORITY, _COMM=smtp")

    jdoc, jrc = logs(mxdiag, "--journal-dir", jdir)
    # postfix-tx's file also holds retries of messages that earlier lab tests
    # left deferred in its queue: compare only this test's messages (queue ids
    # that cleanup created after the offset, and their bounce notices)
    with open(TXLOG, "rb") as f:
        f.seek(off)
        tx_lines = f.read().decode("utf-8", "replace").splitlines()
    qids = set()
    for l in tx_lines:
        m = re.search(r"postfix/cleanup\[\d+\]: ([0-9A-Za-z]+): message-id=", l)
        if m:
            qids.add(m.group(1))
    for l in tx_lines:
        m = re.search(r" ([0-9A-Za-z]+): sender non-delivery notification: ([0-9A-Za-z]+)", l)
        if m and m.group(1) in qids:
            qids.add(m.group(2))
    # an attempt line ("connect to ...: Connection refused") has no queue id:
    # it belongs to the next queue-id line of the same smtp process
    mine, pending = [], {}
    for l in tx_lines:
        pid = re.search(r"postfix/\w+\[(\d+)\]: ", l)
        m = re.search(r"\]: ([0-9A-Za-z]+): ", l)
        if m and m.group(1) in qids:
            mine.extend(pending.pop(pid.group(1), []) if pid else [])
            mine.append(l)
        elif m and pid:
            pending.pop(pid.group(1), None)
        elif pid:
            pending.setdefault(pid.group(1), []).append(l)
    txmine = os.path.join(w, "tx-mine.log")
    with open(txmine, "w") as f:
        f.write("\n".join(mine) + "\n")
    check(len(qids) >= len(RCPTS), "postfix-tx: this test's queue ids found in its log (%d)" % len(qids))
    fdoc, frc = logs(mxdiag, "--since", since, txmine)
    check(jdoc["schema"] == "mxdiag.logs/1" and jdoc["files"] and all(f.get("journal") for f in jdoc["files"]),
          "journal read as a journal (%s)" % jdoc["files"])
    check(jdoc["unparsed"]["count"] == 0, "journal: no unparsed entries (got %d)" % jdoc["unparsed"]["count"])

    # known truth per recipient
    by_code = {f["code"]: f for f in jdoc["findings"]}
    want = {}
    for rcpt, (cause, status) in EXPECT.items():
        want.setdefault(cause, {}).setdefault(status, set()).add(rcpt.split("@")[1])
    want["rcpt_reject"] = {"bounced": {"sender.test"}}
    for cause, statuses in sorted(want.items()):
        f = by_code.get("logs.cause_" + cause)
        if not check(f is not None, "journal: logs.cause_%s reported" % cause):
            continue
        ev = f["evidence"]
        doms = {d["domain"] for d in ev["top_domains"]}
        exp = set().union(*statuses.values())
        check(exp <= doms, "journal: %s: domains %s (got %s)" % (cause, sorted(exp), sorted(doms)))
        for status in sorted(statuses):
            n = NOTICES if cause == "rcpt_reject" else sum(1 for cs in EXPECT.values() if cs == (cause, status))
            check(ev["by_status"].get(status) == n, "journal: %s: %d %s (got %s)" % (cause, n, status, ev["by_status"]))
    scope = by_code.get("logs.scope", {}).get("evidence", {})
    check(scope.get("external_successes") == len(SENT), "journal: exactly %d external successes (got %s)"
          % (len(SENT), scope.get("external_successes")))
    check(scope.get("external_failures") == len(EXPECT) + NOTICES, "journal: exactly %d external failures (got %s)"
          % (len(EXPECT) + NOTICES, scope.get("external_failures")))

    # the same verdict as the file log of the same sends
    jv, fv = verdict(jdoc), verdict(fdoc)
    check(jrc == frc, "same exit status: journal %d, file %d" % (jrc, frc))
    for k in sorted(set(jv) | set(fv)):
        check(jv.get(k) == fv.get(k), "same %s: journal %s, file %s" % (k, jv.get(k), fv.get(k)))

    print("\n%d failed (%.1f s)" % (len(failures), time.time() - t0) if failures else
          "\nall passed (%.1f s)" % (time.time() - t0))
    if not failures:
        shutil.rmtree(w, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

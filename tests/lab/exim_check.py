#!/usr/bin/env python3
"""mxdiag logs against a real Exim's mainlog (label lab).

usage: exim_check.py MXDIAG LAB

`LAB send --mta exim` makes the lab's Exim (tests/lab/lab: exim4-daemon-light
unpacked, own -C configuration, spool and logs) deliver one message per
scenario domain, so its mainlog holds every failure cause the lab has, with
known truth: which recipient fails with which cause and status.  Then lab
clients send to the same Exim as a receiving MTA and are rejected by its ACLs
(a zen-listed client at RCPT, a relay attempt, a greylisting 451, marked spam
after DATA) and one clean message is accepted: inbound lines in the same
mainlog that must not count as outbound failures.  `mxdiag logs --json` over
the mainlog must give each recipient's cause and status, exactly the
external successes and failures sent, and nothing of the inbound traffic.
Exit 77 (skip) when the lab cannot run here."""
import json
import subprocess
import sys
import time

MAINLOG = "/run/mxdiag-lab/log/exim/mainlog"
REJECTLOG = "/run/mxdiag-lab/log/exim/rejectlog"

# recipient -> (cause, status) the lab makes happen (tests/lab/SCENARIOS.md; lab source 198.51.100.1)
EXPECT = {
    "user@refused.test": ("refused", "deferred"),
    "user@rejected.test": ("refused", "deferred"),        # icmp port-unreachable: ECONNREFUSED
    "user@allrefuse.test": ("refused", "deferred"),
    "user@srcblock.test": ("refused", "deferred"),        # RST for the Exim's source 198.51.100.1
    "user@mxreserved.test": ("refused", "deferred"),
    # Exim connects with TCP Fast Open: a dropped SYN and a silent server are the same "SMTP timeout
    # after initial connection"
    "user@dropped.test": ("timeout", "deferred"),
    "user@fourdrop.test": ("timeout", "deferred"),
    "user@hostile-slow.test": ("timeout", "deferred"),
    "user@hostunreach.test": ("unreachable", "deferred"),
    "user@prohibited.test": ("unreachable", "deferred"),
    "user@netunreach.test": ("net_unreachable", "deferred"),
    "user@nullmx.test": ("null_mx", "bounced"),
    "user@nonexistent.test": ("domain_not_found", "bounced"),   # "Unrouteable address"
    "user@mxnoaddr.test": ("domain_not_found", "bounced"),      # "all relevant MX records point to non-existent hosts"
    "user@reject554.test": ("greeting_reject", "bounced"),
    "user@tempfail421.test": ("greeting_reject", "deferred"),
    "user@hostile-endless.test": ("greeting_lost", "deferred"),
    "user@hostile-longline.test": ("greeting_lost", "deferred"),
    "user@hostile-binary.test": ("greeting_lost", "deferred"),
    "user@hostile-close.test": ("greeting_lost", "deferred"),
    "user@badname.test": ("tls_fail", "deferred"),        # tls_verify_hosts: wrong name
    "user@expired.test": ("tls_fail", "deferred"),        # tls_verify_hosts: expired
    "user@hostile-badtls.test": ("tls_fail", "deferred"),
    "user@rblreject.test": ("rbl_reject", "bounced"),     # 554 ... blocked using zen.spamhaus.org
    "nobody@healthy.test": ("rcpt_reject", "bounced"),    # 550 5.1.1 at RCPT
}
SENT = {"healthy.test", "aonly.test", "mxcname.test", "backup.test", "slowgreet.test"}
# the Exim's own local deliveries (exim.test): never external
LOCAL = {"full@exim.test": ("other", "deferred"), "pipe@exim.test": ("other", "bounced")}

# Inbound: lab clients -> the Exim as mx.exim.test.  (source, rcpt, body marker, expected SMTP code, stage)
INBOUND_CLIENT = r'''
import smtplib, sys
res = []
def one(src, rcpt, body, stage):
    s = smtplib.SMTP(timeout=20, source_address=(src, 0))
    s.connect("192.0.2.40", 25)
    s.ehlo("client.inbound-spammer.test")
    s.mail("bulk@inbound-spammer.test")
    code, _ = s.rcpt(rcpt)
    if stage == "rcpt" or code >= 400:
        res.append(code)
    else:
        code, _ = s.data(("From: bulk@inbound-spammer.test\r\nTo: %s\r\nSubject: offer\r\n\r\n%s\r\n" % (rcpt, body)).encode())
        res.append(code)
    s.quit()
one("198.51.100.1", "user@exim.test", "hello", "rcpt")                 # zen-listed client: 550 at RCPT
one("198.51.100.2", "someone@inbound-relay-victim.test", "x", "rcpt")  # relay attempt: 550 at RCPT
one("198.51.100.2", "grey@exim.test", "x", "rcpt")                     # greylisted: 451 at RCPT
one("198.51.100.2", "user@exim.test", "buy now LAB-SPAM-MARKER", "data")  # spam: 550 after DATA
one("198.51.100.2", "user@exim.test", "a clean message", "data")          # accepted: 250
print(" ".join(map(str, res)))
'''
INBOUND_CODES = [550, 550, 451, 550, 250]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what)
    return cond


def logs(mxdiag, *args):
    cmd = [mxdiag, "logs", "--json", "--utc"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if p.stderr.strip():
        print(p.stderr.strip(), file=sys.stderr)
    return json.loads(p.stdout), p.stdout


def wait_for(path, needle, count, seconds):
    """Bounded wait until `needle` occurs `count` times in the file."""
    for _ in range(seconds * 10):
        try:
            with open(path, errors="replace") as f:
                if f.read().count(needle) >= count:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    if subprocess.run([lab, "check"], capture_output=True).returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    # a clean Exim: a test before this one may have left deliveries running (they would log their
    # timeouts inside this test's window) and retry hints (healthy hosts not tried)
    p = subprocess.run([lab, "exim-reset"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return 1
    since = str(int(time.time()) - 1)
    p = subprocess.run([lab, "send", "--mta", "exim"], capture_output=True, text=True, timeout=180)
    print(p.stdout[-4000:])
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return 1

    # inbound on the same Exim
    with open(MAINLOG, errors="replace") as f:
        clean_before = f.read().count("=> :blackhole: <user@exim.test>")
    p = subprocess.run([lab, "exec", "python3", "-c", INBOUND_CLIENT], capture_output=True, text=True, timeout=120)
    got = [int(c) for c in p.stdout.split()] if p.returncode == 0 else []
    if not check(got == INBOUND_CODES, "inbound: the Exim's ACLs answer %s (got %s %s)"
                 % (INBOUND_CODES, got, p.stderr.strip()[-300:])):
        return 1
    check(wait_for(MAINLOG, "=> :blackhole: <user@exim.test>", clean_before + 1, 20),
          "inbound: the clean message was delivered locally")
    with open(MAINLOG, errors="replace") as f:
        log = f.read()
    for what in ("rejected RCPT <user@exim.test>", "rejected RCPT <someone@inbound-relay-victim.test>",
                 "temporarily rejected RCPT <grey@exim.test>", "rejected after DATA"):
        check(what in log, "mainlog has the inbound line: %s" % what)

    doc, raw = logs(mxdiag, "--since", since, MAINLOG)
    check(doc["schema"] == "mxdiag.logs/1", "schema mxdiag.logs/1")
    check(all(f["ok"] for f in doc["files"]), "mainlog read without error")
    check(doc["unparsed"]["count"] == 0, "no unparsed lines (got %d)" % doc["unparsed"]["count"])
    by_code = {f["code"]: f for f in doc["findings"]}

    # each recipient's cause and status: its domain under that cause, the cause's per-status counts
    want = {}
    for rcpt, (cause, status) in list(EXPECT.items()) + list(LOCAL.items()):
        want.setdefault(cause, {}).setdefault(status, set()).add(rcpt.split("@")[1])
    for cause, statuses in sorted(want.items()):
        f = by_code.get("logs.cause_" + cause)
        if not check(f is not None, "logs.cause_%s reported" % cause):
            continue
        ev = f["evidence"]
        doms = {d["domain"] for d in ev["top_domains"]}
        exp_doms = set().union(*statuses.values())
        check(doms == exp_doms, "%s: domains %s (got %s)" % (cause, sorted(exp_doms), sorted(doms)))
        for status, ds in sorted(statuses.items()):
            n = sum(1 for r, cs in list(EXPECT.items()) + list(LOCAL.items()) if cs == (cause, status))
            check(ev["by_status"].get(status) == n,
                  "%s: %d %s (got %s)" % (cause, n, status, ev["by_status"]))
        for status in ev["by_status"]:
            check(status in statuses or status == "attempt", "%s: no unexpected status %s" % (cause, status))
    for f in by_code:
        if f.startswith("logs.cause_"):
            check(f[len("logs.cause_"):] in want, "no unexpected cause %s" % f)
    other = by_code.get("logs.cause_other", {}).get("evidence", {})
    check(other.get("failures") == 0 and other.get("local_failures") == len(LOCAL),
          "the mailbox-full and pipe failures are local (failures %s, local_failures %s)"
          % (other.get("failures"), other.get("local_failures")))
    for cause, statuses in sorted(want.items()):
        ev = by_code.get("logs.cause_" + cause, {}).get("evidence", {})
        n_ext = sum(1 for r, cs in EXPECT.items() if cs[0] == cause)
        check(ev.get("failures") == n_ext, "%s: %d external failures (got %s)" % (cause, n_ext, ev.get("failures")))

    scope = by_code.get("logs.scope", {}).get("evidence", {})
    check(scope.get("external_successes") == len(SENT),
          "exactly %d external successes (got %s)" % (len(SENT), scope.get("external_successes")))
    check(scope.get("external_failures") == len(EXPECT),
          "exactly %d external failures, one per failing recipient: inbound rejections are not counted (got %s)"
          % (len(EXPECT), scope.get("external_failures")))
    for name in ("inbound-spammer.test", "inbound-relay-victim.test", "198.51.100.2"):
        check(name not in raw, "nothing of the inbound traffic (%s) in the report" % name)
    failing = {d["domain"] for d in scope.get("top_failing_domains", [])}
    check("exim.test" not in failing, "the Exim's own domain is not a failing destination (%s)" % sorted(failing))

    # the rejectlog holds only the inbound side: no outbound delivery event at all
    rj, _ = logs(mxdiag, "--since", since, REJECTLOG)
    check(rj["events"] == 0, "rejectlog: no delivery events (got %s)" % rj["events"])

    print("\n%d failed" % len(failures) if failures else "\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

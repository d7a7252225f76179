#!/usr/bin/env python3
"""The logs rules' verdicts on real Postfix logs with known truth (label lab).

usage: logs_verdicts.py MXDIAG LAB [--mta postfix|exim]

The lab's sending Postfix delivers messages this script queues (its own
sendmail: no TCP, so it works while tcp/25 is dropped), and `mxdiag logs --json` judges what it logged:
  A  one broken destination (dropped.test) among healthy ones, a typo domain
     (heathy.test: NXDOMAIN, like healthy.test) and a failing loopback
     destination (mxreserved.test: MX on 127.0.0.25, a local delivery)
     -> their_side naming dropped.test; heathy.test an invalid recipient;
        the loopback failure local, next to healthy remote delivery
  B  intermittent: the same destinations deliver, fail while outgoing tcp/25
     is dropped (lab out25 block), and deliver again -> intermittent
  C  a cutover on our side: deliveries succeed, then `lab out25 block` at a
     known time -> cutover, since that time, crit
  D  (Postfix only) a blocklist rejection: the receiver mx.rblreject.test
     answers the sender's source 198.51.100.5 with a zen-shaped 554 (its
     access map; the lab zen does not list that source) while other
     destinations accept -> blocklisted, crit, evidence naming the list
With --mta exim the lab's real Exim (tests/lab/lab: unpacked .deb, own -C
configuration) runs A (without the loopback destination: exim_check.py covers
the Exim's local failures), B and C, submitting on its command line (no TCP)
and delivering each message at once in the background; its retry hints are
dropped with the queue, as Postfix's are flushed, so a recovered destination
is tried again at once.
The queue is emptied between phases. Exit 77 (skip) when the lab cannot run."""
import calendar
import json
import re
import subprocess
import sys
import time

STATE = "/run/mxdiag-lab"
HEALTHY_PF = ["healthy.test", "aonly.test", "mxcname.test", "backup.test", "srcblock.test"]
# srcblock.test resets the Exim's source 198.51.100.1: slowgreet.test (greets after 3 s) instead
HEALTHY_EXIM = ["healthy.test", "aonly.test", "mxcname.test", "backup.test", "slowgreet.test"]


class Postfix:
    name = "postfix"
    log = STATE + "/log/postfix-tx.log"
    conf = STATE + "/postfix-tx/conf"
    sender = "lab@sender.test"
    healthy = HEALTHY_PF

    def submit_cmd(self, rcpt):
        return ["sendmail", "-C", self.conf, "-f", self.sender, rcpt]

    def outcome(self, line, rcpt):
        return "status=" in line and ("to=<%s>" % rcpt) in line

    def empty_queue(self, lab):
        sh(lab, "exec", "postsuper", "-c", self.conf, "-d", "ALL")

    def forget_dead(self, lab):
        sh(lab, "exec", "postqueue", "-c", self.conf, "-f")  # qmgr forgets the dead destinations


class Exim:
    name = "exim"
    log = STATE + "/log/exim/mainlog"
    conf = STATE + "/exim/exim.conf"
    bin = STATE + "/exim/root/usr/sbin/exim4"
    spool = STATE + "/exim/spool"
    sender = "lab@exim.test"   # bounces to it stay local (:blackhole:)
    healthy = HEALTHY_EXIM

    def submit_cmd(self, rcpt):
        # -odb: deliver at once in a background process (each message in parallel, none waits for another)
        return [self.bin, "-C", self.conf, "-odb", "-f", self.sender, rcpt]

    def outcome(self, line, rcpt):
        # delivered "=> r", deferred "== r", bounced "** r" (a bounce: "** r: Unrouteable address")
        return re.search(r" (=>|==|\*\*) %s[ :]" % re.escape(rcpt), line) is not None

    def empty_queue(self, lab):
        # waits for the deliveries still running (one started while tcp/25 was dropped logs its
        # timeout and writes a retry hint after the block is lifted), then drops the queue and the
        # retry hints: Exim keeps a host it could not reach and does not try it for new messages
        # until the retry time (1 h here), where a flush makes Postfix retry
        p = sh(lab, "exim-reset")
        if p.returncode != 0:
            raise SystemExit("lab exim-reset: %s" % p.stderr.strip())

    def forget_dead(self, lab):
        self.empty_queue(lab)


MTA = Postfix()
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what, flush=True)


def sh(*cmd, timeout=120):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


def log_size():
    try:
        with open(MTA.log, "rb") as f:
            return len(f.read())
    except OSError:
        return 0


def submit(lab, domains):
    """Queues one message to user@DOMAIN per entry with the sending MTA's
    command line (no TCP: works while outgoing tcp/25 is dropped, which drops the
    submission port too). Returns (log offset before, {domain: count})."""
    off = log_size()
    want = {}
    for d in domains:
        msg = "From: %s\nTo: user@%s\nSubject: verdicts\n\nx\n" % (MTA.sender, d)
        p = subprocess.run([lab, "exec"] + MTA.submit_cmd("user@" + d), input=msg,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit("submission failed: %s %s" % (p.stdout, p.stderr))
        want[d] = want.get(d, 0) + 1
    return off, want


def wait_outcomes(sub, limit=120):
    """Waits until every queued message has a status= line after the offset."""
    off, want = sub
    missing = dict(want)
    for _ in range(limit):
        with open(MTA.log, "rb") as f:
            f.seek(off)
            text = f.read().decode("utf-8", "replace")
        lines = text.splitlines()
        missing = {d: n for d, n in want.items() if sum(MTA.outcome(l, "user@" + d) for l in lines) < n}
        if not missing:
            return True
        time.sleep(1)
    print("no outcome for: %s" % missing)
    return False


def empty_queue(lab):
    MTA.empty_queue(lab)


def logs(mxdiag, lab, since):
    p = sh(mxdiag, "logs", "--json", "--utc", "--no-config", "--since", str(since), MTA.log)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        raise SystemExit("mxdiag logs: no JSON (exit %d): %s" % (p.returncode, p.stderr))


def by_code(doc, code):
    return next((f for f in doc["findings"] if f["code"] == code), None)


def main():
    global MTA
    args = sys.argv[1:]
    if len(args) == 4 and args[2] == "--mta" and args[3] in ("postfix", "exim"):
        MTA = Exim() if args[3] == "exim" else Postfix()
    elif len(args) != 2:
        raise SystemExit("usage: logs_verdicts.py MXDIAG LAB [--mta postfix|exim]")
    mxdiag, lab = args[0], args[1]
    exim = MTA.name == "exim"
    HEALTHY = MTA.healthy
    if sh(lab, "check").returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    sh(lab, "out25", "unblock")
    empty_queue(lab)
    # a lab test before this one may have left a destination dead in qmgr's
    # memory (lab.serve_watch breaks healthy.test): A's messages to it would
    # be deferred as refused without a connection (seen under ASan, where the
    # tests run slower)
    MTA.forget_dead(lab)

    # A: one broken destination, a typo, a failing loopback destination, healthy ones
    since = int(time.time()) - 1
    loopback = [] if exim else ["mxreserved.test"]
    check(wait_outcomes(submit(lab, HEALTHY * 2 + ["dropped.test", "dropped.test", "heathy.test"] + loopback)),
          "A: every message has an outcome")
    rc, doc = logs(mxdiag, lab, since)
    sc = doc["findings"][0]
    ev = sc["evidence"]
    check(sc["code"] == "logs.scope" and ev["judgement"] == "their_side" and "dropped.test" in sc["summary"],
          "A: their side, naming dropped.test: %s (%s)" % (sc["summary"], ev["judgement"]))
    check(ev["external_successes"] >= 10 and ev["succeeding_domains"] >= 5, "A: 10 deliveries to 5 domains succeeded")
    inv = by_code(doc, "logs.invalid_recipients")
    doms = {d["domain"]: d.get("looks_like") for d in inv["evidence"]["domains"]} if inv else {}
    check(doms.get("heathy.test") == "healthy.test", "A: heathy.test is an invalid recipient like healthy.test: %s" % doms)
    if loopback:
        check(ev["local_failures"] >= 1, "A: the loopback destination's failure is local (%s)" % ev["local_failures"])
        ref = by_code(doc, "logs.cause_refused")
        check(ref is not None and ref["severity"] == "info" and ref["evidence"]["failures"] == 0,
              "A: refused only locally (loopback MX): information, not a remote failure")
    check(rc == 1, "A: exit 1 (their side)")
    empty_queue(lab)

    # B: intermittent: deliver, fail while tcp/25 is dropped, deliver again
    time.sleep(1)
    since = int(time.time()) - 1
    doms4 = HEALTHY[:4]
    check(wait_outcomes(submit(lab, doms4)), "B: first round delivered")
    sh(lab, "out25", "block")
    check(wait_outcomes(submit(lab, doms4)), "B: second round has outcomes (deferred)")
    sh(lab, "out25", "unblock")
    empty_queue(lab)
    MTA.forget_dead(lab)
    time.sleep(1)
    check(wait_outcomes(submit(lab, doms4)), "B: third round delivered")
    rc, doc = logs(mxdiag, lab, since)
    sc = doc["findings"][0]
    ev = sc["evidence"]
    check(ev["judgement"] == "intermittent" and sc["severity"] == "warn",
          "B: intermittent: %s (%s)" % (sc["summary"], ev["judgement"]))
    check(ev.get("recovered_domains") == 4, "B: 4 destinations recovered (%s)" % ev.get("recovered_domains"))
    empty_queue(lab)

    # C: a cutover on our side at a known time
    time.sleep(1)
    since = int(time.time()) - 1
    check(wait_outcomes(submit(lab, HEALTHY)), "C: deliveries before the cutover")
    time.sleep(2)
    cut = int(time.time())
    sh(lab, "out25", "block")
    try:
        check(wait_outcomes(submit(lab, HEALTHY)), "C: deliveries after the cutover have outcomes")
    finally:
        sh(lab, "out25", "unblock")
        empty_queue(lab)
    rc, doc = logs(mxdiag, lab, since)
    sc = doc["findings"][0]
    ev = sc["evidence"]
    check(ev["judgement"] == "cutover" and sc["severity"] == "crit" and rc == 2,
          "C: cutover, crit, exit 2: %s (%s)" % (sc["summary"], ev["judgement"]))
    sincet = ev.get("since")
    st = calendar.timegm(time.strptime(sincet, "%Y-%m-%dT%H:%M:%SZ")) if sincet else 0
    check(cut <= st <= cut + 60, "C: since %s is the cutover (%s)" % (sincet, time.strftime("%H:%M:%S", time.gmtime(cut))))
    check(ev.get("judgement_cause") == "timeout", "C: cause timeout (%s)" % ev.get("judgement_cause"))
    check(ev.get("domains_failing_since") == 5, "C: 5 destinations failing since (%s)" % ev.get("domains_failing_since"))

    if not exim:
        # D: a blocklist rejection: mx.rblreject.test answers our source with a zen-shaped 554 at RCPT
        time.sleep(1)
        since = int(time.time()) - 1
        check(wait_outcomes(submit(lab, HEALTHY[:3] + ["rblreject.test"])), "D: every message has an outcome")
        rc, doc = logs(mxdiag, lab, since)
        sc = doc["findings"][0]
        ev = sc["evidence"]
        check(ev["judgement"] == "blocklisted" and sc["severity"] == "crit" and rc == 2,
              "D: blocklisted, crit, exit 2: %s (%s)" % (sc["summary"], ev["judgement"]))
        rbl = by_code(doc, "logs.cause_rbl_reject")
        rev = json.dumps(rbl["evidence"]) if rbl else ""
        check(rbl is not None and rbl["evidence"]["failures"] == 1 and "rblreject.test" in rev,
              "D: logs.cause_rbl_reject: 1 failure at rblreject.test (%s)" % (rbl and rbl["evidence"].get("failures")))
        check("blocked using zen.spamhaus.org" in rev and "198.51.100.5" in rev,
              "D: the evidence quotes the reply naming the list and our source: %s" % rev[:300])
        check(ev["external_successes"] == 3, "D: 3 other deliveries succeeded (%s)" % ev["external_successes"])
        empty_queue(lab)

    print("\n%d failed" % len(failures) if failures else "\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

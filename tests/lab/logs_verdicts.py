#!/usr/bin/env python3
"""The logs rules' verdicts on real Postfix logs with known truth (label lab).

usage: logs_verdicts.py MXDIAG LAB

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
The queue is emptied between phases. Exit 77 (skip) when the lab cannot run."""
import calendar
import json
import subprocess
import sys
import time

LOG = "/run/mxdiag-lab/log/postfix-tx.log"
CONF = "/run/mxdiag-lab/postfix-tx/conf"
HEALTHY = ["healthy.test", "aonly.test", "mxcname.test", "backup.test", "srcblock.test"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what, flush=True)


def sh(*cmd, timeout=120):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


def log_size():
    try:
        with open(LOG, "rb") as f:
            return len(f.read())
    except OSError:
        return 0


def submit(lab, domains):
    """Queues one message to user@DOMAIN per entry with the sender instance's
    sendmail (no TCP: works while outgoing tcp/25 is dropped, which drops the
    submission port too). Returns (log offset before, {domain: count})."""
    off = log_size()
    want = {}
    for d in domains:
        msg = "From: lab@sender.test\nTo: user@%s\nSubject: verdicts\n\nx\n" % d
        p = subprocess.run([lab, "exec", "sendmail", "-C", CONF, "-f", "lab@sender.test", "user@" + d], input=msg,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit("sendmail failed: %s %s" % (p.stdout, p.stderr))
        want[d] = want.get(d, 0) + 1
    return off, want


def wait_outcomes(sub, limit=120):
    """Waits until every queued message has a status= line after the offset."""
    off, want = sub
    missing = dict(want)
    for _ in range(limit):
        with open(LOG, "rb") as f:
            f.seek(off)
            text = f.read().decode("utf-8", "replace")
        lines = [l for l in text.splitlines() if "status=" in l]
        missing = {d: n for d, n in want.items() if sum(("to=<user@%s>" % d) in l for l in lines) < n}
        if not missing:
            return True
        time.sleep(1)
    print("no outcome for: %s" % missing)
    return False


def empty_queue(lab):
    sh(lab, "exec", "postsuper", "-c", CONF, "-d", "ALL")


def logs(mxdiag, lab, since):
    p = sh(mxdiag, "logs", "--json", "--utc", "--no-config", "--since", str(since), LOG)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        raise SystemExit("mxdiag logs: no JSON (exit %d): %s" % (p.returncode, p.stderr))


def by_code(doc, code):
    return next((f for f in doc["findings"] if f["code"] == code), None)


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    if sh(lab, "check").returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    sh(lab, "out25", "unblock")
    empty_queue(lab)

    # A: one broken destination, a typo, a failing loopback destination, healthy ones
    since = int(time.time()) - 1
    check(wait_outcomes(submit(lab, HEALTHY * 2 + ["dropped.test", "dropped.test", "heathy.test", "mxreserved.test"])),
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
    sh(lab, "exec", "postqueue", "-c", CONF, "-f")  # forget the dead destinations (qmgr)
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

    print("\n%d failed" % len(failures) if failures else "\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

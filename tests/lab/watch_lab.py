#!/usr/bin/env python3
"""mxdiag watch against the lab's real Postfix (label lab).

usage: watch_lab.py MXDIAG LAB

The lab's sending Postfix gets a message to each of healthy.test,
backup.test and srcblock.test every second (its own sendmail, no TCP) for
the whole run, while `mxdiag watch` (inside the lab's namespace, live checks
through the lab resolver) follows its log:
  1  healthy.test broken: nft rejects tcp/25 to its MX (192.0.2.10,
     2001:db8::10) -> destination_failing healthy.test, their side, with the
     live check's verdict (crit: the MX refuses), within BOUND_FAIL seconds
  2  the log rotated (`postfix logrotate`: rename, then gzip of the old file)
     while healthy.test is still broken
  3  repaired (rule removed, queue flushed) -> destination_recovered within
     BOUND_OK seconds
  4  your side: all outgoing tcp/25 dropped (lab out25 block) -> one cutover
     event (not a destination failing), cause timeout, within BOUND_CUT
     seconds; reopened -> cutover_recovered
SIGTERM then ends watch with exit 0. Exit 77 (skip) when the lab cannot run."""
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

LOG = "/run/mxdiag-lab/log/postfix-tx.log"
CONF = "/run/mxdiag-lab/postfix-tx/conf"
DOMAINS = ["healthy.test", "backup.test", "srcblock.test"]
BOUND_FAIL = 20  # reject -> Postfix logs at once; watch judges within ~1 s; the live check takes seconds
BOUND_OK = 20    # repair -> flush -> delivered -> judged
BOUND_CUT = 25   # block -> 5 s connect timeouts (smtp_connect_timeout) -> 3 failures -> judged
# new connections only: a delivery in flight when the rule goes in ends as it would (else its
# "lost connection ... while sending EHLO" can be the first failure the log shows, not a refusal)
BREAK = """table inet mxwatch {
  chain out {
    type filter hook output priority 0;
    ip daddr 192.0.2.10 tcp dport 25 tcp flags & (syn|ack) == syn reject with tcp reset
    ip6 daddr 2001:db8::10 tcp dport 25 tcp flags & (syn|ack) == syn reject with tcp reset
  }
}
"""

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what, flush=True)


def sh(*cmd, timeout=60, input=None):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input)


class Sender(threading.Thread):
    """One message to each destination every second until stopped."""
    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab, self.stop = lab, threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            for d in DOMAINS:
                msg = "From: lab@sender.test\nTo: user@%s\nSubject: watch\n\nx\n" % d
                try:
                    sh(self.lab, "exec", "sendmail", "-C", CONF, "-f", "lab@sender.test", "user@" + d, input=msg,
                       timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            self.stop.wait(max(0.0, 1.0 - (time.time() - t)))


def events(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_event(path, event, dest, bound, after=0):
    t0 = time.time()
    while time.time() - t0 < bound:
        for e in events(path)[after:]:
            if e["event"] == event and e.get("destination") == dest:
                return time.time() - t0, e
        time.sleep(0.2)
    return None, None


def flush(lab):
    sh(lab, "exec", "postqueue", "-c", CONF, "-f")


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    if sh(lab, "check").returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    sh(lab, "out25", "unblock")
    sh(lab, "exec", "nft", "delete", "table", "inet", "mxwatch")
    sh(lab, "exec", "postsuper", "-c", CONF, "-d", "ALL")
    flush(lab)
    tmp = tempfile.mkdtemp(prefix="mx-watch-lab-")
    out = os.path.join(tmp, "events.jsonl")
    w = subprocess.Popen([lab, "exec", mxdiag, "watch", "--no-config", "--utc", "--window", "5m", "--interval", "2",
                          "--output", out, "--check-timeout", "15", "--resolver", "127.0.0.1", "--timeout", "3",
                          "--allow-reserved", LOG], stderr=subprocess.PIPE, text=True)
    sender = Sender(lab)
    sender.start()
    started = time.time()
    try:
        time.sleep(4)  # successes to every destination
        check(events(out) == [], "deliveries succeed: no event (%s)" % events(out))

        # 1: one destination broken
        sh(lab, "exec", "nft", "-f", "-", input=BREAK)
        t, e = wait_event(out, "destination_failing", "healthy.test", BOUND_FAIL)
        check(t is not None, "healthy.test broken: destination_failing within %d s (%.1f s)" % (BOUND_FAIL, t or -1))
        if e:
            c = e.get("check") or {}
            codes = [f["code"] for f in c.get("findings", [])]
            check(e["judgement"] == "their_side", "their side (%s: %s)" % (e["judgement"], e["summary"]))
            check(e["evidence"].get("cause") == "refused", "log evidence: refused (%s)" % e["evidence"])
            check(c.get("status") == "crit" and c.get("verdict") and any(k.startswith(("tcp.", "delivery.")) for k in codes),
                  "the live verdict beside it: %s %s" % (c.get("verdict"), codes))

        # 2: rotation in the middle (rename, gzip of the old file)
        r = sh(lab, "exec", "postfix", "-c", CONF, "logrotate")
        check(r.returncode == 0, "postfix logrotate: %s" % (r.stdout + r.stderr).strip())
        time.sleep(2)

        # 3: repaired
        n_before = len(events(out))
        sh(lab, "exec", "nft", "delete", "table", "inet", "mxwatch")
        flush(lab)
        t, e = wait_event(out, "destination_recovered", "healthy.test", BOUND_OK, n_before)
        check(t is not None, "repaired after the rotation: destination_recovered within %d s (%.1f s)" % (BOUND_OK, t or -1))

        # 4: your side: every outgoing tcp/25 dropped. First Postfix forgets
        # healthy.test's dead-destination state (messages queued meanwhile are
        # still deferred "delivery temporarily suspended: ... refused"): the
        # queue emptied and flushed, then a few seconds of deliveries.
        sh(lab, "exec", "postsuper", "-c", CONF, "-d", "ALL")
        flush(lab)
        time.sleep(4)
        n_before = len(events(out))
        sh(lab, "out25", "block")
        try:
            t, e = wait_event(out, "cutover", None, BOUND_CUT, n_before)
            check(t is not None, "out25 dropped: cutover within %d s (%.1f s)" % (BOUND_CUT, t or -1))
            if e:
                # the cause is the most common last cause of the destinations failing since: timeout
                # from the drop, except that Postfix keeps deferring healthy.test with phase 1's
                # "refused" for a while (its dead-destination memory), which can tip it
                check(e["evidence"].get("judgement_cause") in ("timeout", "refused") and e["evidence"].get("since"),
                      "the cutover says its cause and since when (%s)" % e["evidence"])
            mid = [(x["event"], x["destination"]) for x in events(out)[n_before:]]
            # the first judgement may see one destination's timeouts before the others'
            check(("cutover", None) in mid and sum(x[0] == "destination_failing" for x in mid) <= 1,
                  "told as a cutover, not as destinations failing: %s" % mid)
        finally:
            sh(lab, "out25", "unblock")
        flush(lab)
        t, e = wait_event(out, "cutover_recovered", None, BOUND_OK, n_before)
        check(t is not None, "reopened: cutover_recovered within %d s (%.1f s)" % (BOUND_OK, t or -1))
    finally:
        sender.stop.set()
        sender.join(30)
        sh(lab, "exec", "nft", "delete", "table", "inet", "mxwatch")
        sh(lab, "out25", "unblock")
        w.send_signal(signal.SIGTERM)
        try:
            rc = w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()
            rc = "hung"
        check(rc == 0, "SIGTERM: exit 0 (%s) %s" % (rc, w.stderr.read().strip()[-300:]))
        sh(lab, "exec", "postsuper", "-c", CONF, "-d", "ALL")
        for f in glob.glob(LOG + ".*"):  # postfix logrotate's renamed (gzipped) files
            os.unlink(f)
    print("events: %s" % [(x["event"], x["destination"]) for x in events(out)])
    print("took %.0f s" % (time.time() - started))
    print("\n%d failed" % len(failures) if failures else "\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""mxdiag watch without the lab: a Postfix log written line by line (lines
written by this test, documentation domains) into a temporary directory,
followed by `mxdiag watch`. One destination failing -> destination_failing
(with the live check's verdict: the check's resolver is a closed local port,
so the check ends at once with dns.resolver_unreachable), its successes ->
destination_recovered, each within BOUND seconds; rotation by rename (a line
written to the old file after the rename, then the old file gzipped and
removed) and by copytruncate in the middle, no event lost or duplicated; a
second failure of the same destination within --check-interval is not
checked again; binary and over-long lines do not stop it; every destination
failing after successes is one cutover event, not per-destination events;
--exec gets each event on stdin; SIGTERM ends with exit 0."""
import datetime, gzip, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

MXDIAG = sys.argv[1]
BOUND = 6.0  # seconds from the line written to the event out (judged within ~1.2 s, plus the check)
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


seq = [0]


def lines(kind, dom, n):
    out = []
    for i in range(n):
        seq[0] += 1
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        qid = "%010X" % (0xA000000000 + seq[0])
        if kind == "ok":
            out.append(f"{ts} mx postfix/smtp[100]: {qid}: to=<u{i}@{dom}>, relay=mx.{dom}[192.0.2.10]:25, "
                       "delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)\n")
        elif kind == "timeout":
            out.append(f"{ts} mx postfix/smtp[102]: {qid}: to=<u{i}@{dom}>, relay=none, delay=30, "
                       f"delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.{dom}[192.0.2.30]:25: "
                       "Connection timed out)\n")
        else:
            out.append(f"{ts} mx postfix/smtp[101]: {qid}: to=<u{i}@{dom}>, relay=none, delay=30, "
                       f"delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.{dom}[192.0.2.20]:25: "
                       "Connection refused)\n")
    return "".join(out)


def append(path, text, mode="a"):
    with open(path, mode) as f:
        f.write(text)


class Events:
    def __init__(self, path):
        self.path, self.seen = path, []

    def read(self):
        try:
            with open(self.path) as f:
                got = [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            got = []
        self.seen = got
        return got

    def wait(self, event, dest, count=1, bound=BOUND):
        """seconds until the count-th (event, dest) is out, or None"""
        t0 = time.time()
        while time.time() - t0 < bound:
            n = [e for e in self.read() if e["event"] == event and e.get("destination") == dest]
            if len(n) >= count:
                return time.time() - t0, n[count - 1]
            time.sleep(0.1)
        return None, None


tmp = tempfile.mkdtemp(prefix="mx-watch-")
closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()  # nothing listens: the check's queries are refused at once

# ---- one destination at a time, across rotations ----------------------------
log = os.path.join(tmp, "mail.log")
out = os.path.join(tmp, "events.jsonl")
execd = os.path.join(tmp, "exec.jsonl")
append(log, lines("ok", "a.example.test", 3) + lines("ok", "b.example.test", 3) + lines("ok", "c.example.test", 3))
p = subprocess.Popen([MXDIAG, "watch", "--no-config", "--from", "1h", "--interval", "2", "--output", out,
                      "--exec", "cat >> '%s'" % execd, "--check-interval", "10m",
                      "--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "2", log],
                     stderr=subprocess.PIPE, text=True)
ev = Events(out)
time.sleep(1.5)
check(ev.read() == [], "only successes: no event")

append(log, lines("fail", "b.example.test", 3))
t, e = ev.wait("destination_failing", "b.example.test")
check(t is not None, "b fails: destination_failing within %.0f s (%.1f s)" % (BOUND, t or -1))
if e:
    check(e["schema"] == "mxdiag.watch/1" and e["judgement"] == "their_side", "the scope: their side")
    check(e["evidence"]["cause"] == "refused" and "Connection refused" in (e["evidence"].get("sample_reply") or ""),
          "the log evidence: cause and the reply")
    c = e.get("check") or {}
    check(c.get("status") == "unknown" and "resolver" in c.get("verdict", "")
          and any(f["code"] == "dns.resolver_unreachable" for f in c.get("findings", [])),
          "the live check's verdict beside it: %s" % c.get("verdict"))

# rename rotation: a line still written to the old file, then gzipped and removed
os.rename(log, log + ".1")
append(log + ".1", lines("fail", "b.example.test", 1))
append(log, lines("ok", "b.example.test", 2))
with open(log + ".1", "rb") as f, gzip.open(log + ".1.gz", "wb") as g:
    g.write(f.read())
os.unlink(log + ".1")
t, e = ev.wait("destination_recovered", "b.example.test")
check(t is not None, "b recovers after a rename rotation: destination_recovered within %.0f s (%.1f s)" % (BOUND, t or -1))
if e:
    check(e["evidence"]["failures"] == 4, "the line written to the renamed file was read (4 failures, got %s)"
          % e["evidence"]["failures"])

# copytruncate rotation
shutil.copy(log, log + ".1")
with open(log, "r+") as f:
    f.truncate(0)
append(log, lines("fail", "c.example.test", 2))
t, e = ev.wait("destination_failing", "c.example.test")
check(t is not None, "c fails after a copytruncate: destination_failing within %.0f s (%.1f s)" % (BOUND, t or -1))
append(log, lines("ok", "c.example.test", 1))
t, e = ev.wait("destination_recovered", "c.example.test")
check(t is not None, "c recovers: destination_recovered (%.1f s)" % (t or -1))

# b again within --check-interval: an event, no second check
append(log, lines("fail", "b.example.test", 1))
t, e = ev.wait("destination_failing", "b.example.test", count=2)
check(t is not None, "b fails again: a second destination_failing")
if e:
    c = e.get("check") or {}
    check(c.get("status") == "skipped" and "once per" in c.get("reason", ""),
          "not checked again within --check-interval: %s" % c)

append(log, lines("ok", "b.example.test", 1))
t, e = ev.wait("destination_recovered", "b.example.test", count=2)
check(t is not None, "b recovers again")

# garbage does not stop it (a fails while c goes on accepting: not a cutover)
with open(log, "ab") as f:
    f.write(b"\x00\x01\xff\xfe binary garbage \x00\n" + b"x" * 70000 + b"\n")
# SIGHUP: the files reopened (the same file at its offset: nothing read twice)
p.send_signal(signal.SIGHUP)
time.sleep(0.6)
append(log, lines("fail", "a.example.test", 2) + lines("ok", "c.example.test", 1))
t, e = ev.wait("destination_failing", "a.example.test")
check(t is not None, "binary and over-long lines: still following (a fails, %.1f s)" % (t or -1))

p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill()
    rc = "hung"
err = p.stderr.read()
check(rc == 0, "SIGTERM: exit 0 (got %s) %s" % (rc, err.strip()[-300:]))
got = [(e["event"], e["destination"]) for e in ev.read()]
want = [("destination_failing", "b.example.test"), ("destination_recovered", "b.example.test"),
        ("destination_failing", "c.example.test"), ("destination_recovered", "c.example.test"),
        ("destination_failing", "b.example.test"), ("destination_recovered", "b.example.test"),
        ("intermittent", None), ("destination_failing", "a.example.test")]
# b and c failed and recovered, a fails now: the logs rules call that
# intermittent (failures spread among continuing successes), once
check(got == want, "every event exactly once, in order (SIGHUP in the middle): %s" % got)
try:
    with open(execd) as f:
        ex = [json.loads(l) for l in f if l.strip()]
except FileNotFoundError:
    ex = []
check(ex == ev.read(), "--exec got each event on its standard input (%d of %d)" % (len(ex), len(ev.read())))

# ---- cutover: every destination fails after successes -----------------------
log2 = os.path.join(tmp, "cut.log")
out2 = os.path.join(tmp, "cut.jsonl")
append(log2, "".join(lines("ok", d, 2) for d in ("a.example.test", "b.example.test", "c.example.test")))
p = subprocess.Popen([MXDIAG, "watch", "--no-config", "--no-check", "--from", "1h", "--interval", "2",
                      "--output", out2, log2], stderr=subprocess.PIPE, text=True)
ev2 = Events(out2)
time.sleep(1.5)
append(log2, "".join(lines("timeout", d, 2) for d in ("a.example.test", "b.example.test", "c.example.test")))
t, e = ev2.wait("cutover", None)
check(t is not None, "all destinations fail: cutover within %.0f s (%.1f s)" % (BOUND, t or -1))
if e:
    check(e["evidence"].get("judgement_cause") == "timeout" and e["evidence"].get("since"),
          "the cutover says the cause and since when: %s" % e["evidence"])
append(log2, "".join(lines("ok", d, 2) for d in ("a.example.test", "b.example.test", "c.example.test")))
t, e = ev2.wait("cutover_recovered", None)
check(t is not None, "deliveries resume: cutover_recovered (%.1f s)" % (t or -1))
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=10)
got = [e["event"] for e in ev2.read()]
# after the recovery every destination has failed and succeeded again: the
# logs rules may call the window intermittent then (a legitimate event)
check(got[:2] == ["cutover", "cutover_recovered"] and not [g for g in got if g.startswith("destination_")],
      "a cutover is not told as destinations failing: %s" % got)

# ---- a log line's domain is data: never an option of the live check ---------
log3 = os.path.join(tmp, "hostile.log")
out3 = os.path.join(tmp, "hostile.jsonl")
hostile = "-rules-dir=.example.test"
append(log3, lines("ok", "a.example.test", 3) + lines("ok", hostile, 2))
p = subprocess.Popen([MXDIAG, "watch", "--no-config", "--from", "1h", "--interval", "2", "--output", out3,
                      "--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "2", log3],
                     stderr=subprocess.PIPE, text=True)
ev3 = Events(out3)
time.sleep(1.5)
append(log3, lines("fail", hostile, 3))
t, e = ev3.wait("destination_failing", hostile)
check(t is not None, "a destination named like an option fails: an event (%.1f s)" % (t or -1))
if e:
    c = e.get("check") or {}
    check(c.get("status") == "skipped" and "not a domain name" in c.get("reason", ""),
          "no live check of a name that is not a domain: %s" % c)
p.send_signal(signal.SIGTERM)
check(p.wait(timeout=10) == 0, "hostile name: SIGTERM exit 0")

# ---- usage errors -------------------------------------------------------------
r = subprocess.run([MXDIAG, "watch", "--no-config", "--window", "nope", log], capture_output=True, text=True)
check(r.returncode == 3 and "--window" in r.stderr, "a bad --window: exit 3 and says so")
r = subprocess.run([MXDIAG, "watch", "--no-config", "--windwo", "1m", log], capture_output=True, text=True)
check(r.returncode == 3 and "did you mean --window" in r.stderr, "a typo: did you mean")

shutil.rmtree(tmp, ignore_errors=True)
if fails:
    sys.exit("%d failed" % len(fails))
print("all passed")

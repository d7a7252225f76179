#!/usr/bin/env python3
"""mxdiag serve --watch without the lab: a Postfix log written by this test
(documentation domains) is followed by serve; /metrics carries the
log-derived series. Asserted: the counters and window gauges per result and
cause, the scope judgement and the failing destination; the counters never go
down across a rename rotation, a copytruncate and SIGHUP, while the window
gauges fall as lines age out of a short --window; a hostile domain (quotes,
backslash, braces, a control byte, invalid UTF-8) is escaped and promtool
accepts every scrape; more than 20 failing destinations give 20 by name and
one domain="(other)"; a probe in flight while the window is judged answers;
--watch-output gets watch's events; watch options
without --watch are a usage error."""
import datetime, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

MXDIAG = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


seq = [0]


def ts(ago=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def line(kind, dom, ago=0.0, local="u"):
    seq[0] += 1
    qid = "%010X" % (0xB000000000 + seq[0])
    if kind == "ok":
        return (f"{ts(ago)} mx postfix/smtp[100]: {qid}: to=<{local}{seq[0]}@{dom}>, relay=mx.{dom}[192.0.2.10]:25, "
                "delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)\n")
    return (f"{ts(ago)} mx postfix/smtp[101]: {qid}: to=<{local}{seq[0]}@{dom}>, relay=none, delay=30, "
            f"delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.{dom}[192.0.2.20]:25: "
            "Connection refused)\n")


def append(path, text, mode="a"):
    with open(path, mode, encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


def scrape(base):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return r.read().decode("utf-8", errors="replace")  # promcheck judges the bytes it gets


def series(text):
    """{'name{labels}': value} of the non-comment lines"""
    out = {}
    for l in text.splitlines():
        if l and not l.startswith("#"):
            k, v = l.rsplit(" ", 1)
            out[k] = float(v)
    return out


promtool = shutil.which("promtool")


def promcheck(text, what):
    if not promtool:
        check(False, "promtool is installed (apt-get install prometheus)")
        return
    r = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True)
    check(r.returncode == 0, "promtool check metrics: %s %s" % (what, r.stdout + r.stderr))


def wait_for(base, cond, bound=6.0):
    """the first scrape (as series) for which cond holds within bound seconds, else the last"""
    t0 = time.time()
    s = {}
    while time.time() - t0 < bound:
        s = series(scrape(base))
        if cond(s):
            return s, time.time() - t0
        time.sleep(0.2)
    return s, None


TOTAL = "mxdiag_log_deliveries_total"
WIN = "mxdiag_log_window_deliveries"
SENT = '{result="sent",cause="none"}'
REFUSED = '{result="deferred",cause="refused"}'

# --- usage errors
r = subprocess.run([MXDIAG, "serve", "--no-config", "--listen", "127.0.0.1:0", "--window", "1m"],
                   capture_output=True, text=True, timeout=10)
check(r.returncode == 3 and "go with --watch" in r.stderr, "--window without --watch: exit 3 (%d, %s)"
      % (r.returncode, r.stderr.strip()))
r = subprocess.run([MXDIAG, "serve", "--no-config", "--listen", "127.0.0.1:0", "--watch", "--window", "5"],
                   capture_output=True, text=True, timeout=10)
check(r.returncode == 3 and "--window wants a duration" in r.stderr, "--watch --window 5: exit 3 (%d, %s)"
      % (r.returncode, r.stderr.strip()))

tmp = tempfile.mkdtemp(prefix="mx-servewatch-")
log = os.path.join(tmp, "mail.log")
events = os.path.join(tmp, "events.jsonl")
append(log, "".join(line("ok", "ok.example") for _ in range(3)), "w")
silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver that never answers: a probe waits
silent.bind(("127.0.0.1", 0))
p = subprocess.Popen([MXDIAG, "serve", "--no-config", "--listen", "127.0.0.1:0", "--allow-reserved",
                      "--resolver", "127.0.0.1:%d" % silent.getsockname()[1], "--timeout", "2", "--watch-file", log,
                      "--from", "1h", "--utc", "--window", "20s", "--interval", "2s", "--watch-output", events],
                     stderr=subprocess.PIPE, text=True)
first = p.stderr.readline()
if "listening on 127.0.0.1:" not in first:
    p.kill()
    sys.exit("serve did not start: " + first + p.stderr.read())
base = "http://127.0.0.1:%d" % int(first.split("127.0.0.1:")[1].split()[0])
try:
    s, t = wait_for(base, lambda s: s.get(TOTAL + SENT) == 3)
    check(t is not None, "the 3 successes read with --from: %s%s 3 (%s)" % (TOTAL, SENT, s.get(TOTAL + SENT)))
    check(s.get('mxdiag_log_scope{judgement="ok",severity="ok"}') == 1, "scope judgement ok")
    check(s.get("mxdiag_log_window_seconds") == 20, "window 20 s")

    # one destination fails, judged while a probe is in flight on the same loop
    probe = {}

    def run_probe():
        with urllib.request.urlopen(base + "/probe?target=slow.example&timeout=5", timeout=20) as r:
            probe["status"], probe["body"] = r.status, r.read().decode()

    pt = threading.Thread(target=run_probe, daemon=True)
    pt.start()
    time.sleep(0.3)
    append(log, "".join(line("refused", "bad.example") for _ in range(4)))
    s, t = wait_for(base, lambda s: s.get(TOTAL + REFUSED) == 4 and
                    s.get('mxdiag_log_destinations{state="failing"}') == 1)
    check(t is not None, "4 refused deliveries counted and bad.example failing within 6 s (%s)" % t)
    check(s.get(WIN + REFUSED) == 4 and s.get(WIN + SENT) == 3, "window gauges: 4 refused, 3 sent")
    check(s.get('mxdiag_log_destination_failures{domain="bad.example",cause="refused"}') == 4,
          "bad.example: 4 failures, cause refused")
    scopes = [k for k in s if k.startswith("mxdiag_log_scope{")]
    check(len(scopes) == 1 and 'judgement="ok"' not in scopes[0], "one scope judgement, not ok any more: %s" % scopes)
    since = s.get('mxdiag_log_destination_failing_since_timestamp_seconds{domain="bad.example"}')
    check(since is not None and abs(since - time.time()) < 30, "bad.example failing since now-ish (%s)" % since)
    check(s.get('mxdiag_log_destinations{state="ok"}') == 1, "one destination ok")
    check(s.get("mxdiag_log_lines_read_total") == 7, "7 lines read (%s)" % s.get("mxdiag_log_lines_read_total"))
    check(s.get("mxdiag_exporter_probes_in_flight") == 1, "judged while the probe was in flight (%s)"
          % s.get("mxdiag_exporter_probes_in_flight"))
    pt.join(20)
    check(probe.get("status") == 200 and "mxdiag_probe_status 3" in probe.get("body", ""),
          "the probe answered (unknown: the resolver never answers) %s" % probe.get("status"))
    promcheck(scrape(base), "after the failures")
    before = s

    # rename rotation: a line still written to the old file, then a new file
    os.rename(log, log + ".1")
    append(log + ".1", line("refused", "bad.example"))
    append(log, line("refused", "bad.example"), "w")
    s, t = wait_for(base, lambda s: s.get(TOTAL + REFUSED) == 6)
    check(t is not None, "rename rotation: both lines counted (%s)" % s.get(TOTAL + REFUSED))
    # copytruncate
    shutil.copy(log, log + ".2")
    with open(log, "r+") as f:
        f.truncate(0)
    append(log, line("ok", "ok.example"))
    s, t = wait_for(base, lambda s: s.get(TOTAL + SENT) == 4)
    check(t is not None, "copytruncate: the new success counted (%s)" % s.get(TOTAL + SENT))
    # SIGHUP
    p.send_signal(signal.SIGHUP)
    append(log, line("refused", "bad.example"))
    s, t = wait_for(base, lambda s: s.get(TOTAL + REFUSED) == 7)
    check(t is not None, "SIGHUP: files reopened, the next line counted (%s)" % s.get(TOTAL + REFUSED))
    down = [k for k in before if k.split("{")[0].endswith("_total") and s.get(k, -1) < before[k]]
    check(not down, "no counter went down across rotations and SIGHUP: %s" % down)

    # lines 15 s old leave the 20 s window within ~5 s: the window gauge falls, the counter stays
    append(log, "".join(line("refused", "old.example", ago=15) for _ in range(2)))
    s, t = wait_for(base, lambda s: s.get(TOTAL + REFUSED) == 9 and
                    s.get('mxdiag_log_destination_failures{domain="old.example",cause="refused"}') == 2)
    check(t is not None, "two lines 15 s old counted and judged (%s)" % s.get(TOTAL + REFUSED))
    w_before = s.get(WIN + REFUSED)
    s, t = wait_for(base, lambda s: s.get(WIN + REFUSED, 99) < w_before and s.get(TOTAL + REFUSED) == 9, bound=12)
    check(t is not None, "the window gauge fell as old lines aged out (%s -> %s), the counter stayed 9 (%s)"
          % (w_before, s.get(WIN + REFUSED), s.get(TOTAL + REFUSED)))

    # a hostile domain: quotes, backslash, braces, a control byte, invalid UTF-8
    hostile = 'ev"il}\\{x="1"\x01\udcff.example'
    append(log, "".join(line("refused", hostile) for _ in range(9)))
    s, t = wait_for(base, lambda s: s.get(TOTAL + REFUSED) == 18 and
                    any(k.startswith("mxdiag_log_destination_failures{") and "evil" in k.replace('\\"', "") for k in s))
    check(t is not None, "hostile lines read and judged (%s)" % s.get(TOTAL + REFUSED))
    text = scrape(base)
    promcheck(text, "with a hostile domain")
    hl = [l for l in text.splitlines() if l.startswith("mxdiag_log_destination_failures{") and "evil" in l.replace('\\"', "")]
    check(len(hl) == 1, "the hostile domain is one series: %s" % hl)
    if hl:
        check('\\"' in hl[0] and "\x01" not in hl[0] and hl[0].endswith(" 9"), "its quotes escaped, control byte gone, 9 failures: %r" % hl[0])

    # more than 20 failing destinations: 20 by name and (other)
    append(log, "".join(line("refused", "d%02d.example" % i) for i in range(25)))
    s, t = wait_for(base, lambda s: any('domain="(other)"' in k for k in s))
    named = [k for k in s if k.startswith("mxdiag_log_destination_failures{") and '"(other)"' not in k]
    check(t is not None and len(named) == 20, "20 failing destinations by name (%d) and (other)" % len(named))
    fl = s.get('mxdiag_log_destinations{state="failing"}', 0)
    other = [v for k, v in s.items() if k.startswith("mxdiag_log_destination_failures{") and '"(other)"' in k]
    named_sum = sum(s[k] for k in named)
    check(fl >= 27 and other and other[0] >= fl - 20, "(other) sums the rest (%s failing, other %s)" % (fl, other))
    promcheck(scrape(base), "with the (other) bucket")

    # /probe still answers on the same loop
    with urllib.request.urlopen(base + "/", timeout=5) as r:
        check("--watch" in r.read().decode(), "/ names the log-derived series")
finally:
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
check(rc == 0, "SIGTERM: exit 0 (%s)" % rc)
evs = []
try:
    with open(events) as f:
        evs = [json.loads(l) for l in f if l.strip()]
except FileNotFoundError:
    pass
check(any(e["event"] == "destination_failing" and e["destination"] == "bad.example" for e in evs),
      "--watch-output: destination_failing bad.example (%s)" % [e["event"] for e in evs])
check(all("check" not in e for e in evs), "no live checks from serve --watch")
shutil.rmtree(tmp, ignore_errors=True)
if fails:
    print("%d failed" % len(fails))
    sys.exit(1)
print("all passed")

#!/usr/bin/env python3
"""lab.serve_watch: `mxdiag serve --watch` follows the lab's sending Postfix's
log while a real Prometheus (Debian's package) scrapes its /metrics; the
log-derived series are read back through Prometheus's HTTP API.

The lab Postfix sends a message to healthy.test and backup.test every second
(its own sendmail, no TCP); then healthy.test is broken (nft rejects tcp/25 to
its MX) and Prometheus must show, within BOUND seconds: refused deliveries
counted, healthy.test failing with cause refused, the scope judgement
their_side, one failing destination, the time its failures started; the
example alert MxdiagDestinationFailing pending for healthy.test; promtool
accepts the exporter's output. Repaired and the queue emptied at the end.
Usage: serve_watch_prom.py MXDIAG LAB   (runs `LAB exec` itself; exit 77 when the lab cannot run)"""
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
LOG = "/run/mxdiag-lab/log/postfix-tx.log"
CONF = "/run/mxdiag-lab/postfix-tx/conf"
DOMAINS = ["healthy.test", "backup.test"]
BOUND = 25  # reject -> Postfix logs at once -> judged within ~1 s -> scraped every 1 s
BREAK = """table inet mxservewatch {
  chain out {
    type filter hook output priority 0;
    ip daddr 192.0.2.10 tcp dport 25 tcp flags & (syn|ack) == syn reject with tcp reset
    ip6 daddr 2001:db8::10 tcp dport 25 tcp flags & (syn|ack) == syn reject with tcp reset
  }
}
"""

if len(sys.argv) == 3 and sys.argv[2] != "--inside":  # outside the namespace: re-run inside it
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        print("lab.serve_watch: needs root (the lab namespace); skipped")
        sys.exit(77)
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            print("lab.serve_watch: %s missing (apt-get install -y prometheus)" % tool)
            sys.exit(1)
    lab = os.path.abspath(sys.argv[2])
    if subprocess.run([lab, "check"], capture_output=True).returncode != 0:
        print("lab cannot run here: skipped")
        sys.exit(77)
    os.execv(lab, [lab, "exec", sys.executable, os.path.abspath(__file__), os.path.abspath(sys.argv[1]), "--inside"])

MXDIAG = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails.append(what)


def sh(*cmd, timeout=30, input=None):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fetch(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Sender(threading.Thread):
    """One message to each destination every second until stopped."""
    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            for d in DOMAINS:
                msg = "From: lab@sender.test\nTo: user@%s\nSubject: serve --watch\n\nx\n" % d
                try:
                    sh("sendmail", "-C", CONF, "-f", "lab@sender.test", "user@" + d, input=msg, timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            self.stop.wait(max(0.0, 1.0 - (time.time() - t)))


sh("nft", "delete", "table", "inet", "mxservewatch")
sh("postsuper", "-c", CONF, "-d", "ALL")
tmp = tempfile.mkdtemp(prefix="mxdiag-serve-watch-")
procs = []
sender = Sender()
started = time.time()
try:
    sport, pport = free_port(), free_port()
    serve = subprocess.Popen([MXDIAG, "serve", "--no-config", "--listen", "127.0.0.1:%d" % sport, "--watch-file", LOG,
                              "--utc", "--window", "5m", "--interval", "2"], stderr=subprocess.PIPE, text=True)
    procs.append(serve)
    line = serve.stderr.readline()
    check("listening on 127.0.0.1:%d" % sport in line, "serve --watch listens: %s" % line.strip())
    base = "http://127.0.0.1:%d" % sport
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [os.path.join(SRC, "contrib/prometheus/mxdiag-alerts.yml")],
        "scrape_configs": [{"job_name": "mxdiag_exporter", "static_configs": [{"targets": ["127.0.0.1:%d" % sport]}]}],
    }
    pconf = os.path.join(tmp, "prometheus.yml")
    with open(pconf, "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    prom = subprocess.Popen(["prometheus", "--config.file=" + pconf, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
    procs.append(prom)
    papi = "http://127.0.0.1:%d/api/v1/" % pport

    def query(expr):
        try:
            d = json.loads(fetch(papi + "query?" + urllib.parse.urlencode({"query": expr}), 5))
        except Exception:
            return None
        return d["data"]["result"] if d.get("status") == "success" else None

    def wait_all(exprs, bound):
        """{expr: first value} once every expr has a result, within bound seconds"""
        got, t0 = {}, time.time()
        while time.time() - t0 < bound:
            for e in exprs:
                r = query(e)
                if r:
                    got[e] = float(r[0]["value"][1])
            if len(got) == len(exprs):
                break
            time.sleep(0.5)
        return got, time.time() - t0

    sender.start()
    # deliveries succeed: the scope is ok
    ok_exprs = ['mxdiag_log_deliveries_total{result="sent",cause="none"} > 0',
                'mxdiag_log_scope{judgement="ok"} == 1', 'mxdiag_log_window_seconds == 300']
    got, t = wait_all(ok_exprs, 20)
    for e in ok_exprs:
        check(e in got, "before: %s (%.1f s)" % (e, t))

    # healthy.test broken
    broke = time.time()
    sh("nft", "-f", "-", input=BREAK)
    fail_exprs = ['mxdiag_log_deliveries_total{result="deferred",cause="refused"} > 0',
                  'mxdiag_log_window_deliveries{result="deferred",cause="refused"} > 0',
                  'mxdiag_log_destination_failures{domain="healthy.test",cause="refused"} > 0',
                  'mxdiag_log_scope{judgement="their_side"} == 1',
                  'mxdiag_log_destinations{state="failing"} == 1',
                  'mxdiag_log_destinations{state="ok"} >= 1',
                  'mxdiag_log_destination_failing_since_timestamp_seconds{domain="healthy.test"}']
    got, t = wait_all(fail_exprs, BOUND)
    for e in fail_exprs:
        check(e in got, "healthy.test broken: %s within %d s (%.1f s; %s)" % (e, BOUND, t, got.get(e)))
    since = got.get(fail_exprs[-1])
    check(since is not None and broke - 5 <= since <= time.time() + 1,
          "its failures started when it was broken (%s, broken at %.0f)" % (since, broke))
    r = query('mxdiag_log_destination_failures{domain="backup.test"}')
    check(r == [], "backup.test is not failing (%s)" % r)
    alerts = []
    t0 = time.time()
    while time.time() - t0 < 10 and not alerts:
        try:
            a = json.loads(fetch(papi + "alerts"))["data"]["alerts"]
        except Exception:
            a = []
        alerts = [x for x in a if x["labels"].get("alertname") == "MxdiagDestinationFailing"
                  and x["labels"].get("domain") == "healthy.test"]
        time.sleep(0.5)
    check(bool(alerts) and alerts[0]["state"] in ("pending", "firing"),
          "contrib's MxdiagDestinationFailing is pending for healthy.test (%s)" % [x["state"] for x in alerts])
    text = fetch(base + "/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True)
    check(r.returncode == 0, "promtool check metrics /metrics %s" % (r.stdout + r.stderr).strip())
    print("\n".join(l for l in text.splitlines() if l.startswith("mxdiag_log_")))
    if fails:
        print(open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
finally:
    sender.stop.set()
    sender.join(30)
    sh("nft", "delete", "table", "inet", "mxservewatch")
    sh("postsuper", "-c", CONF, "-d", "ALL")
    sh("postqueue", "-c", CONF, "-f")  # qmgr forgets healthy.test as a dead destination
    rc = None
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                c = p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                c = "hung"
            if p is procs[0]:
                rc = c
    check(rc == 0, "serve --watch ends on SIGTERM with exit 0 (%s)" % rc)
    shutil.rmtree(tmp, ignore_errors=True)
print("took %.0f s" % (time.time() - started))
sys.exit(1 if fails else 0)

#!/usr/bin/env python3
"""mxdiag serve without the lab: request validation (400), the allow-list
(403), the concurrency bound (503), the rate bound (429), the scrape timeout
header, /metrics counting all of it, promtool on both outputs, and SIGTERM
with a probe in flight. DNS goes to a local UDP socket that never answers (a
probe waits for it) or to a closed port (a probe ends at once)."""
import os, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error, shutil, signal

MXDIAG = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


def start(args, config=None, env=None):
    cmd = [MXDIAG, "serve"] + (["--config", config] if config else ["--no-config"]) + \
        ["--listen", "127.0.0.1:0", "--allow-reserved"] + args
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    line = p.stderr.readline()
    if "listening on 127.0.0.1:" not in line:
        print(line + p.stderr.read())
        sys.exit("serve did not start")
    port = int(line.split("127.0.0.1:")[1].split()[0])
    return p, "http://127.0.0.1:%d" % port


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


promtool = shutil.which("promtool")


def promcheck(text, what):
    if not promtool:
        check(False, "promtool is installed (apt-get install prometheus)")
        return
    r = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True)
    check(r.returncode == 0, "promtool check metrics: %s %s" % (what, r.stdout + r.stderr))


silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a resolver that never answers
silent.bind(("127.0.0.1", 0))
silent_port = silent.getsockname()[1]
closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
closed.bind(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()  # nothing listens: queries are refused at once

tmp = tempfile.mkdtemp()
conf = os.path.join(tmp, "mxdiag.yaml")
with open(conf, "w") as f:
    f.write("serve_targets: [allowed.test]\nmodules:\n  dnsonly: {only: [mx], timeout: 20}\n")

# --- validation, allow-list, a quick probe
p, base = start(["--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "1"], conf)
for q, code, words in [
        ("/probe", 400, "missing parameter 'target'"),
        ("/probe?target=", 400, "missing parameter 'target'"),
        ("/probe?target=a..allowed.test", 400, "bad target"),
        ("/probe?target=a.allowed.test&module=nope", 400, "unknown module nope"),
        ("/probe?target=a.allowed.test&timeout=abc", 400, "bad timeout"),
        ("/probe?target=a.allowed.test&timeout=0", 400, "bad timeout"),
        ("/probe?target=a.allowed.test&timeout=601", 400, "bad timeout"),
        ("/probe?target=a.allowed.test&target=b.allowed.test", 400, "more than once"),
        ("/probe?target=evil.test", 403, "not allowed"),
        ("/probe?target=notallowed.test", 403, "not allowed"),
        ("/probe?target=192.0.2.1", 403, "not allowed"),
        ("/nothing", 404, "no such endpoint")]:
    code_got, body, _ = get(base + q)
    check(code_got == code and words in body, "%s -> %d %r (got %d %r)" % (q, code, words, code_got, body.strip()))
code, _, _ = get(base + "/metrics", method="POST")
check(code == 405, "POST -> 405 (got %d)" % code)
code, body, hdrs = get(base + "/probe?target=mx.allowed.test&module=dnsonly")
check(code == 200 and hdrs.get("Content-Type", "").startswith("text/plain; version=0.0.4"), "probe answers 200 in the exposition format")
check(value(body, "mxdiag_probe_success") == 0 and value(body, "mxdiag_probe_status") == 3, "a resolver refusing: not a success, status unknown")
check('mxdiag_finding{code="dns.resolver_unreachable",rule="mx",severity="unknown"} 1' in body, "one series per finding code")
check(value(body, "mxdiag_probe_timed_out") == 0, "not timed out")
promcheck(body, "/probe")
code, body, _ = get(base + "/metrics")
promcheck(body, "/metrics")
check(value(body, 'mxdiag_exporter_rejected_total{reason="bad_request"}') == 10, "/metrics counts 10 bad requests (8 400s, the 404, the 405)")
check(value(body, 'mxdiag_exporter_rejected_total{reason="target_not_allowed"}') == 3, "/metrics counts 3 refused targets")
check(value(body, "mxdiag_exporter_probes_total") == 1, "/metrics counts one probe")
check(value(body, 'mxdiag_exporter_requests_total{endpoint="probe"}') == 12, "/metrics counts 12 probe requests")
p.terminate()
check(p.wait(10) == 0, "SIGTERM when idle: exit 0")

# --- concurrency bound and the scrape timeout header, SIGTERM with a probe in flight
p, base = start(["--resolver", "127.0.0.1:%d" % silent_port, "--timeout", "3", "--max-probes", "1", "--max-rate", "0"])
import threading
res = {}
def slow():
    res["slow"] = get(base + "/probe?target=waits.test", {"X-Prometheus-Scrape-Timeout-Seconds": "2"})
t0 = time.monotonic()
th = threading.Thread(target=slow)
th.start()
time.sleep(0.3)
code, body, hdrs = get(base + "/probe?target=second.test")
check(code == 503 and "too many probes at once" in body and hdrs.get("Retry-After") == "1", "second probe beyond --max-probes 1 -> 503 (got %d %r)" % (code, body))
th.join()
el = time.monotonic() - t0
code, body, _ = res["slow"]
check(code == 200 and value(body, "mxdiag_probe_timed_out") == 1 and value(body, "mxdiag_probe_status") == 3,
      "scrape timeout 2 s: answered as timed out, status unknown")
check(1.2 < el < 2.0, "answered before Prometheus gives up (%.2f s)" % el)
promcheck(body, "/probe timed out")
# a probe in flight at SIGTERM is answered before the exit
def inflight():
    res["term"] = get(base + "/probe?target=term.test")
time.sleep(3.5)  # the timed-out check ends (DNS timeout) and frees its slot
th = threading.Thread(target=inflight)
th.start()
time.sleep(0.3)
p.send_signal(signal.SIGTERM)
th.join()
check(res["term"][0] == 200 and value(res["term"][1], "mxdiag_probe_status") is not None, "a probe in flight at SIGTERM is answered")
check(p.wait(15) == 0, "SIGTERM with a probe in flight: exit 0")

# --- rate bound
p, base = start(["--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "1", "--max-rate", "0.2"])
c1, _, _ = get(base + "/probe?target=one.test")
c2, body, _ = get(base + "/probe?target=two.test")
check(c1 == 200 and c2 == 429 and "per second" in body, "--max-rate 0.2: first 200, second 429 (got %d %d)" % (c1, c2))
code, body, _ = get(base + "/metrics")
check(value(body, 'mxdiag_exporter_rejected_total{reason="rate_limited"}') == 1, "/metrics counts the 429")
p.terminate()
p.wait(10)

# --- every probe connects again: nothing is answered from an earlier probe
# (a target probed once used to be answered from the run's shared results,
# "up" after its server had stopped)
smtp_srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
smtp_srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
smtp_srv.bind(("127.0.0.1", 0))
smtp_srv.listen(8)
smtp_port = smtp_srv.getsockname()[1]
accepted = []
def smtp_serve():
    while True:
        try:
            c, _ = smtp_srv.accept()
        except OSError:
            return
        accepted.append(1)
        try:
            c.settimeout(5)
            c.sendall(b"220 probe.test ESMTP\r\n")
            f = c.makefile("rb")
            for _ in range(10):  # bounded dialogue
                line = f.readline()
                if not line:
                    break
                cmd = line[:4].upper()
                if cmd in (b"EHLO", b"HELO"):
                    c.sendall(b"250-probe.test\r\n250 8BITMIME\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    break
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            c.close()
smtp_th = threading.Thread(target=smtp_serve, daemon=True)
smtp_th.start()
with open(conf, "w") as f:
    f.write("modules:\n  conn: {only: [tcp, smtp]}\n")
p, base = start(["--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "3", "--max-rate", "0"], conf)
target = "/probe?target=127.0.0.1:%d&module=conn" % smtp_port
code1, body1, _ = get(base + target)
code2, body2, _ = get(base + target)
connected = 'mxdiag_finding{code="tcp.connected",rule="tcp",severity="ok"} 1'
check(code1 == 200 and connected in body1 and 'code="smtp.greeting_ok"' in body1,
      "a listening SMTP server: connected and greeted (got %d %s)" % (code1, body1[-600:]))
check(code2 == 200 and connected in body2 and len(accepted) == 2,
      "the same target probed twice: two connections (got %d)" % len(accepted))
smtp_srv.shutdown(socket.SHUT_RDWR)  # wakes the accept() (a close alone leaves the port listening)
smtp_srv.close()
smtp_th.join(5)
code3, body3, _ = get(base + target)
check(code3 == 200 and value(body3, "mxdiag_probe_success") == 0 and 'code="tcp.refused"' in body3 and connected not in body3,
      "the server stopped: the next probe says refused, not the earlier success (got %s)" % body3[-900:])
p.terminate()
check(p.wait(10) == 0, "serve exits 0 after the repeated probes")

# --- a long-lived serve keeps nothing of finished probes: every probe's
# cached answers (their keys carry its epoch: no later probe can use them) and
# task.event entries were kept for the daemon's life (RSS +16 MB over these
# 1,000 probes before; about +0 now)
env = None
ldd = subprocess.run(["ldd", MXDIAG], capture_output=True, text=True).stdout
if "libasan" in ldd:
    # AddressSanitizer holds freed memory back (its quarantine) and RSS grows
    # with every allocation: with no quarantine, memory is reused as in a
    # normal build and the figure means the same
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(x for x in [env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0",
                                             "thread_local_quarantine_size_kb=0"] if x)
p, base = start(["--resolver", "127.0.0.1:%d" % closed_port, "--timeout", "1", "--max-rate", "0"], env=env)
def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
ok_probes, r0 = 0, None
for i in range(1200):
    code, _, _ = get(base + "/probe?target=127.0.0.1:2")
    ok_probes += code == 200
    if i == 199:
        r0 = rss(p.pid)
r1 = rss(p.pid)
check(ok_probes == 1200, "1,200 probes answered: %d" % ok_probes)
check(r1 - r0 < 3000, "RSS from probe 200 to 1,200: %d -> %d kB (< 3 MB more)" % (r0, r1))
p.terminate()
p.wait(timeout=30)

# --- command line
r = subprocess.run([MXDIAG, "serve", "--no-config", "--listen", "nonsense"], capture_output=True, text=True)
check(r.returncode == 3 and "--listen nonsense" in r.stderr, "bad --listen: exit 3 with the reason")
r = subprocess.run([MXDIAG, "serve", "--no-config", "--max-probes", "0"], capture_output=True, text=True)
check(r.returncode == 3 and "--max-probes" in r.stderr, "bad --max-probes: exit 3")
r = subprocess.run([MXDIAG, "serve", "--no-config", "--allow-target", "192.0.2.1"], capture_output=True, text=True)
check(r.returncode == 3 and "--allow-target" in r.stderr, "an address as --allow-target: exit 3")
# --- the configuration file's modules: and serve_targets:
for text, words in [("modules:\n  bad: {colour: 1}\n", "'modules.bad.colour' is not a per-domain setting"),
                    ("modules:\n  x: {timeout: 9999}\n", "'modules.x.timeout' must be a number of seconds"),
                    ("modules:\n  x: {only: [nosuchrule]}\n", "module x selects no rule")]:
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write(text)
    r = subprocess.run([MXDIAG, "serve", "--config", bad, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 3 and words in r.stderr, "config %r: exit 3, %r (got %d %r)" % (text, words, r.returncode, r.stderr.strip()))
lst = os.path.join(tmp, "list.yaml")
with open(lst, "w") as f:
    f.write("defaults: {modules: {a: {}}}\ndomains: [a.test]\n")
r = subprocess.run([MXDIAG, "batch", "--no-config", lst], capture_output=True, text=True, timeout=30)
check(r.returncode == 3 and "'modules' belongs in the configuration file" in r.stderr, "modules: in a batch list is refused")
shutil.rmtree(tmp)
sys.exit(1 if fails else 0)

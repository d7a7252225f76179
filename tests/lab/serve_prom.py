#!/usr/bin/env python3
"""lab.serve_prom: `mxdiag serve` in the lab namespace, scraped by a real
Prometheus (Debian's package, its own config and storage in a temp dir, no
systemd) with the blackbox relabelling convention (__param_target) for a
healthy and a broken lab domain, and /metrics. The series are read back
through Prometheus's HTTP API (/api/v1/query); promtool checks the exporter's
output, the example scrape config and the alert rules of contrib/prometheus.
Usage: serve_prom.py MXDIAG LAB   (runs `LAB exec` itself)"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))

if len(sys.argv) == 3 and sys.argv[2] != "--inside":  # outside the namespace: re-run inside it
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        print("lab.serve_prom: needs root (the lab namespace); skipped")
        sys.exit(77)
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            print("lab.serve_prom: %s missing (apt-get install -y prometheus)" % tool)
            sys.exit(1)
    lab = os.path.abspath(sys.argv[2])
    os.execv(lab, [lab, "exec", sys.executable, os.path.abspath(__file__), os.path.abspath(sys.argv[1]), "--inside"])

MXDIAG = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fetch(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


tmp = tempfile.mkdtemp(prefix="mxdiag-serve-")
procs = []
try:
    # contrib/prometheus: the example config and alert rules are valid
    for args in (["check", "config", os.path.join(SRC, "contrib/prometheus/prometheus.yml")],
                 ["check", "rules", os.path.join(SRC, "contrib/prometheus/mxdiag-alerts.yml")]):
        r = subprocess.run(["promtool"] + args, capture_output=True, text=True)
        check(r.returncode == 0, "promtool %s %s" % (" ".join(args[:2]), (r.stdout + r.stderr).strip()[-200:]))

    conf = os.path.join(tmp, "mxdiag.yaml")
    with open(conf, "w") as f:
        f.write("serve_targets: [healthy.test, refused.test]\n"
                "modules:\n"
                "  smtp: {only: [mx, tcp, smtp], timeout: 15}\n"
                "  dnsbl: {only: [dnsbl], sender_ips: [198.51.100.1]}\n")
    sport = free_port()
    serve = subprocess.Popen([MXDIAG, "serve", "--config", conf, "--allow-reserved", "--timeout", "3",
                              "--listen", "127.0.0.1:%d" % sport], stderr=subprocess.PIPE, text=True)
    procs.append(serve)
    line = serve.stderr.readline()
    check("listening on 127.0.0.1:%d" % sport in line, "serve listens: %s" % line.strip())
    base = "http://127.0.0.1:%d" % sport

    # the exporter's answers directly, checked by promtool
    outs = {}
    for q in ("/probe?target=healthy.test&module=smtp", "/probe?target=refused.test&module=smtp",
              "/probe?target=healthy.test&module=dnsbl", "/metrics"):
        outs[q] = fetch(base + q)
        r = subprocess.run(["promtool", "check", "metrics"], input=outs[q], text=True, capture_output=True)
        check(r.returncode == 0, "promtool check metrics %s %s" % (q, (r.stdout + r.stderr).strip()))
    print(outs["/probe?target=healthy.test&module=smtp"])
    dnsbl = outs["/probe?target=healthy.test&module=dnsbl"]
    check("mxdiag_dnsbl_listed{" in dnsbl, "the dnsbl module gives mxdiag_dnsbl_listed series")

    pport = free_port()
    pconf = os.path.join(tmp, "prometheus.yml")
    relabel = [{"source_labels": ["__address__"], "target_label": "__param_target"},
               {"source_labels": ["__param_target"], "target_label": "instance"},
               {"target_label": "__address__", "replacement": "127.0.0.1:%d" % sport}]
    cfg = {
        "global": {"scrape_interval": "3s", "evaluation_interval": "3s"},
        "rule_files": [os.path.join(SRC, "contrib/prometheus/mxdiag-alerts.yml")],
        "scrape_configs": [
            {"job_name": "mxdiag_smtp", "metrics_path": "/probe", "params": {"module": ["smtp"]},
             "scrape_timeout": "3s", "static_configs": [{"targets": ["healthy.test", "refused.test"]}],
             "relabel_configs": relabel},
            {"job_name": "mxdiag_exporter", "static_configs": [{"targets": ["127.0.0.1:%d" % sport]}]},
        ],
    }
    with open(pconf, "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    prom = subprocess.Popen(["prometheus", "--config.file=" + pconf, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
    procs.append(prom)
    papi = "http://127.0.0.1:%d/api/v1/" % pport

    def query(expr):
        try:
            d = json.loads(fetch(papi + "query?" + urllib.parse.urlencode({"query": expr}), 10))
        except Exception:
            return None
        return d["data"]["result"] if d.get("status") == "success" else None

    want = {
        'mxdiag_probe_success{instance="healthy.test"}': 1,
        'mxdiag_probe_status{instance="healthy.test"}': 0,
        'mxdiag_probe_success{instance="refused.test"}': 0,
        'mxdiag_probe_status{instance="refused.test"} >= 1': None,
        'mxdiag_probe_timed_out{instance="healthy.test"}': 0,
        'up{job="mxdiag_exporter"}': 1,
    }
    got = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for e in want:
            r = query(e)
            if r:
                got[e] = float(r[0]["value"][1])
        if len(got) == len(want) and query('mxdiag_exporter_probes_total') and \
                float(query('mxdiag_exporter_probes_total')[0]["value"][1]) >= 5:
            break
        time.sleep(1)
    for e, v in want.items():
        check(got.get(e) == v or (v is None and e in got), "%s == %s (got %s)" % (e, v, got.get(e)))
    r = query('mxdiag_connect{instance="refused.test",verdict="refused"}')
    check(bool(r) and all(float(x["value"][1]) == 1 for x in r) and all(x["metric"].get("address") for x in r),
          "refused.test: mxdiag_connect{verdict=\"refused\"} per MX address (%s)" % r)
    r = query('mxdiag_connect{instance="healthy.test",verdict="connected"}')
    check(bool(r), "healthy.test: mxdiag_connect{verdict=\"connected\"}")
    r = query('mxdiag_greeting_seconds{instance="healthy.test"}')
    check(bool(r) and all(0 <= float(x["value"][1]) < 3 for x in r), "healthy.test: greeting seconds (%s)" % r)
    r = query('mxdiag_tls_cert_expiry_seconds{instance="healthy.test"}')
    check(bool(r) and all(float(x["value"][1]) > 86400 for x in r), "healthy.test: certificate expiry > a day (%s)" % r)
    r = query('mxdiag_connect_seconds{instance="healthy.test"}')
    check(bool(r) and all(0 <= float(x["value"][1]) < 3 for x in r), "healthy.test: connect seconds (%s)" % r)
    r = query('mxdiag_finding{instance="refused.test",code="tcp.refused",rule="tcp"}')
    check(bool(r) and all(x["metric"]["severity"] in ("warn", "crit") for x in r),
          "refused.test: mxdiag_finding{code=\"tcp.refused\"} warn or crit (%s)" % r)
    r = query('mxdiag_exporter_requests_total{endpoint="probe"}')
    check(bool(r) and float(r[0]["value"][1]) >= 5, "the exporter's own requests counter through Prometheus (%s)" % r)
    r = query('sum(mxdiag_exporter_rejected_total)')
    check(bool(r) and float(r[0]["value"][1]) == 0, "no request rejected (%s)" % r)
    rules = json.loads(fetch(papi + "rules"))
    names = [ru["name"] for g in rules["data"]["groups"] for ru in g["rules"]]
    check("MxdiagMailDeliveryCritical" in names, "Prometheus loaded the alert rules (%d)" % len(names))
    if fails:
        print(open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
    serve.terminate()
    check(serve.wait(20) == 0, "serve ends on SIGTERM with exit 0")
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if fails else 0)

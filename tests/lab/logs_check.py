#!/usr/bin/env python3
"""mxdiag logs against real Postfix logs (label lab).

usage: logs_check.py MXDIAG LAB

Runs `LAB send` (the lab's sending Postfix delivers one message to every
scenario domain), then `mxdiag logs --json` on what this send logged and
asserts the per-cause domains real Postfix produced; then `mxdiag logs
--probe 3` inside the lab and asserts live probe results came back.
Exit 77 (skip) when the lab cannot run here."""
import json
import subprocess
import sys
import time

LOG = "/run/mxdiag-lab/log/postfix-tx.log"

# cause -> domains whose delivery the lab makes fail that way
EXPECT = {
    "refused": {"refused.test", "rejected.test", "allrefuse.test", "mxreserved.test"},
    "timeout": {"dropped.test", "fourdrop.test"},
    "unreachable": {"hostunreach.test", "prohibited.test"},
    "net_unreachable": {"netunreach.test"},
    "null_mx": {"nullmx.test"},
    # NXDOMAIN for the domain, or for the host its MX names: permanent (dns_fail is a lookup that may
    # answer next time: SERVFAIL, timeout)
    "domain_not_found": {"nonexistent.test", "mxnoaddr.test"},
    "greeting_reject": {"reject554.test", "tempfail421.test"},
    "greeting_lost": {"hostile-endless.test", "hostile-longline.test", "hostile-binary.test",
                      "hostile-slow.test", "hostile-close.test"},
    "tls_fail": {"hostile-badtls.test"},
}
SENT = {"healthy.test", "aonly.test", "mxcname.test", "backup.test", "srcblock.test", "slowgreet.test"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok   " if cond else "FAIL ") + what)


def logs(mxdiag, *args, lab=None):
    cmd = [mxdiag, "logs", "--json", "--utc"] + list(args)
    if lab:
        cmd = [lab, "exec"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if p.stderr.strip():
        print(p.stderr.strip(), file=sys.stderr)
    return json.loads(p.stdout)


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    if subprocess.run([lab, "check"], capture_output=True).returncode != 0:
        print("lab cannot run here: skipped")
        return 77
    since = str(int(time.time()) - 1)
    p = subprocess.run([lab, "send"], capture_output=True, text=True, timeout=180)
    print(p.stdout[-3000:])
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return 1

    doc = logs(mxdiag, "--since", since, LOG)
    check(doc["schema"] == "mxdiag.logs/1", "schema mxdiag.logs/1")
    check(all(f["ok"] for f in doc["files"]), "log file read without error")
    check(doc["unparsed"]["count"] == 0, "no unparsed lines (got %d)" % doc["unparsed"]["count"])
    by_code = {f["code"]: f for f in doc["findings"]}
    for cause, domains in sorted(EXPECT.items()):
        f = by_code.get("logs.cause_" + cause)
        check(f is not None, "logs.cause_%s reported" % cause)
        if not f:
            continue
        ev = f["evidence"]
        got = {d["domain"] for d in ev["top_domains"]}
        check(domains <= got, "%s: domains %s (got %s)" % (cause, sorted(domains), sorted(got)))
        n = ev["failures"] + ev["local_failures"] + ev["attempts"]
        check(n >= len(domains), "%s: at least %d events (got %d)" % (cause, len(domains), n))
        check(ev.get("first_seen") and ev.get("last_seen") and ev["first_seen"] <= ev["last_seen"],
              "%s: first/last seen present (%s .. %s)" % (cause, ev.get("first_seen"), ev.get("last_seen")))
    scope = by_code.get("logs.scope", {}).get("evidence", {})
    check(scope.get("external_successes", 0) >= len(SENT),
          "at least %d successful external deliveries (got %s)" % (len(SENT), scope.get("external_successes")))
    check(scope.get("since") is not None and scope.get("first_failure") is not None, "scope has since / first failure")
    # sent via the backup MX: the primary's refusal is logged, the mail left via mx2
    b = logs(mxdiag, "--since", since, "--domain", "backup.test", LOG)
    bs = {f["code"]: f for f in b["findings"]}["logs.scope"]["evidence"]
    check(bs["external_successes"] >= 1 and bs["external_failures"] == 0,
          "backup.test: delivered (successes %d, failures %d)" % (bs["external_successes"], bs["external_failures"]))
    refused_addrs = {a["address"] for a in by_code["logs.cause_refused"]["evidence"]["top_addresses"]} \
        if "logs.cause_refused" in by_code else set()
    check("192.0.2.11" in refused_addrs, "refused: 192.0.2.11 among the top addresses (%s)" % sorted(refused_addrs))

    # the live half, inside the lab
    pd = logs(mxdiag, "--since", since, "--probe", "3", "--allow-reserved", "--timeout", "3", LOG, lab=lab)
    probes, doms = pd.get("probes", []), pd.get("probed_domains", [])
    check(len(probes) == 3 and len(doms) == 3, "3 probes (got %d)" % len(probes))
    for d, p in zip(doms, probes):
        check(p.get("schema") == "mxdiag.check/1" and p["target"]["input"] == d["domain"],
              "probe of %s is a mxdiag.check/1 document for it" % d["domain"])
        check(d["failures"] >= 1 and d.get("first_failure"), "%s: log side has failures and a first failure" % d["domain"])
    live = [f for p in probes for f in p.get("findings", [])
            if f["code"] in ("tcp.refused", "tcp.timeout", "tcp.rejected", "tcp.unreachable")]
    check(len(live) >= 1, "a probe says how the connection fails now (%s)" % sorted({f["code"] for f in live}))
    check(any(p["status"] == "crit" for p in probes), "a probed domain is still undeliverable now")

    print("\n%d failed" % len(failures) if failures else "\nall passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

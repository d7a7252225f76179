#!/usr/bin/env python3
"""Command-line parsing that must not drift between commands: batch and
logs --probe pass check's options through (cli/check_opts.c, one table), so
an option that takes a value must take it in either order (`batch LIST
--dnsbl-zone Z` once opened Z as the list) and a flag must take none."""
import json
import os
import subprocess
import sys

MXDIAG = sys.argv[1]
LIST = "/nonexistent/mxdiag-test-list.yaml"
cases = [
    ["batch", LIST, "--dnsbl-zone", "zen.spamhaus.org"],
    ["batch", "--dnsbl-zone", "zen.spamhaus.org", LIST],
    ["batch", LIST, "--sender-domain", "mail.example.net"],
    ["batch", LIST, "--timeout", "3"],
    ["batch", "--timeout=3", LIST],
]
# every value option of check, before and after the list
values = [("--dnsbl-zone", "zen.spamhaus.org"), ("--sender-domain", "mail.example.net"), ("--timeout", "3"),
          ("--resolver", "127.0.0.1"), ("--only", "mx"), ("--skip", "mx"), ("--port", "25"),
          ("--sender-ip", "192.0.2.1"), ("--control", "192.0.2.2"), ("--helo", "mx.example.net"),
          ("--per-host", "2"), ("--qps", "10"), ("--max-connections", "8"), ("--dnsbl-key", "abc123")]
for opt, val in values:
    if [opt, val] not in [c[1:3] for c in cases] + [c[2:4] for c in cases]:
        cases.append(["batch", LIST, opt, val])
        cases.append(["batch", opt, val, LIST])
fails = 0
for args in cases:
    p = subprocess.run([MXDIAG] + args, capture_output=True, text=True, timeout=30)
    ok = p.returncode == 3 and LIST in p.stderr and "zen.spamhaus.org" not in p.stderr.replace(LIST, "")
    print("%s mxdiag %s -> exit %d: %s" % ("ok  " if ok else "FAIL", " ".join(args), p.returncode,
                                          p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""))
    fails += not ok

# logs --probe N: check's options go to the probe, the files stay files (a
# log without delivery events: nothing is probed, no network)
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "logs", "binary-nul.log")
logs_cases = [
    ["--probe", "1", "--dnsbl-zone", "zen.spamhaus.org", LOG],
    ["--probe", "1", LOG, "--timeout", "3"],
    ["--probe", "1", "--trace", LOG, "--allow-reserved"],
    ["--probe", "1", "--local", LOG],
    ["--probe", "1", "--verbose", LOG],
    ["--probe", "1", "--timeout=3", LOG, "--resolver", "127.0.0.1"],
]
for args in logs_cases:
    p = subprocess.run([MXDIAG, "logs", "--json"] + args, capture_output=True, text=True, timeout=30)
    try:
        files = [f["path"] for f in json.loads(p.stdout)["files"]]
    except (ValueError, KeyError, TypeError):
        files = None
    ok = files == [LOG]
    print("%s mxdiag logs --json %s -> exit %d, files %s" % ("ok  " if ok else "FAIL", " ".join(args), p.returncode, files))
    fails += not ok
total = len(cases) + len(logs_cases)
print("%d passed, %d failed" % (total - fails, fails))
sys.exit(1 if fails else 0)

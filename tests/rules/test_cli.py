#!/usr/bin/env python3
"""Command-line parsing that must not drift between commands: batch passes
check's options through, so an option that takes a value must take it in
either order (`batch LIST --dnsbl-zone Z` once opened Z as the list)."""
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
fails = 0
for args in cases:
    p = subprocess.run([MXDIAG] + args, capture_output=True, text=True, timeout=30)
    ok = p.returncode == 3 and LIST in p.stderr and "zen.spamhaus.org" not in p.stderr.replace(LIST, "")
    print("%s mxdiag %s -> exit %d: %s" % ("ok  " if ok else "FAIL", " ".join(args), p.returncode,
                                          p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""))
    fails += not ok
print("%d passed, %d failed" % (len(cases) - fails, fails))
sys.exit(1 if fails else 0)

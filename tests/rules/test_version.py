#!/usr/bin/env python3
"""`mxdiag version` and `--version`: the version, and the versions of the
libraries it runs with (what a bug report needs)."""
import re
import subprocess
import sys

MXDIAG = sys.argv[1]
want = [
    r"^mxdiag \d+\.\d+\.\d+( \(git [0-9a-f]{7,}(-dirty)?\))?$",
    r"^c-ares \d+\.\d+\.\d+ \(built with \d+\.\d+\.\d+\)$",
    r"^OpenSSL \d+\.\d+\.\d+.* \(built with OpenSSL \d+\.\d+\.\d+.*\)$",
    r"^Lua 5\.4\.\d+$",
    r"^libyaml \d+\.\d+\.\d+$",
]
fails = 0
for args in (["version"], ["--version"], ["check", "--version"]):
    p = subprocess.run([MXDIAG] + args, capture_output=True, text=True, timeout=30)
    lines = p.stdout.splitlines()
    ok = p.returncode == 0 and len(lines) == len(want) and all(
        re.match(w, l) for w, l in zip(want, lines))
    print("%s mxdiag %s" % ("ok  " if ok else "FAIL", " ".join(args)))
    if not ok:
        print("  exit %d, output:\n%s" % (p.returncode, p.stdout + p.stderr))
        fails += 1
print("%d passed, %d failed" % (3 - fails, fails))
sys.exit(1 if fails else 0)

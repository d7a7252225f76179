#!/usr/bin/env python3
"""Compares `mxdiag logs` of two binaries byte for byte, text and --json, over
every file of tests/data/logs (lines.tsv as the log of its line column), every
scenario of gen_scenarios.py and every log of a corpus directory: a change
meant to keep the output (the cause catalog replacing the C cascade, issue 17)
must leave all of them identical.

usage: compare_outputs.py OLD_MXDIAG NEW_MXDIAG SOURCE_DIR [CORPUS_DIR]
Prints one line per input and a summary; exit 1 on any difference."""
import glob
import os
import subprocess
import sys
import tempfile

OLD, NEW, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
CORPUS = sys.argv[4] if len(sys.argv) > 4 else None
sys.path.insert(0, os.path.join(SRC, "tests", "data", "logs"))
import gen_scenarios  # noqa: E402

TMP = tempfile.mkdtemp(prefix="mxdiag-compare-")


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"\\": b"\\", "0": b"\0", "r": b"\r", "t": b"\t"}.get(n, ("\\" + n).encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def inputs():
    d = os.path.join(SRC, "tests", "data", "logs")
    for p in sorted(glob.glob(os.path.join(d, "*"))):
        if p.endswith(".py"):
            continue
        if p.endswith("lines.tsv"):
            rows = [l.split("\t", 7)[7] for l in open(p, encoding="utf-8").read().split("\n")
                    if l and not l.startswith("#") and l.count("\t") >= 7]
            q = os.path.join(TMP, "lines.tsv.log")
            with open(q, "wb") as f:
                f.write(b"\n".join(unescape(r) for r in rows) + b"\n")
            yield "lines.tsv (line column)", q, "2026-01-01T00:00:00Z"
        yield os.path.relpath(p, SRC), p, "2026-01-01T00:00:00Z"
    for name in sorted(gen_scenarios.SCENARIOS):
        q = os.path.join(TMP, "scenario-%s.log" % name)
        with open(q, "w") as f:
            f.write(gen_scenarios.SCENARIOS[name]().text())
        yield "scenario " + name, q, "2024-03-02T00:00:00Z"
    if CORPUS:
        for p in sorted(glob.glob(os.path.join(CORPUS, "*", "*.log"))):
            yield "corpus " + os.path.relpath(p, CORPUS), p, "2026-01-01T00:00:00Z"


def run(mx, path, now, json):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    env.pop("MXDIAG_RULES_PATH", None)
    args = [mx, "logs", "--utc", "--now", now, "--width", "100"] + (["--json"] if json else []) + [path]
    p = subprocess.run(args, capture_output=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


diff = 0
n = 0
for label, path, now in inputs():
    for json in (False, True):
        n += 1
        a, b = run(OLD, path, now, json), run(NEW, path, now, json)
        same = a == b
        print("%s %s %s (%d bytes, exit %d)" % ("same" if same else "DIFF", "json" if json else "text", label,
                                                len(b[1]), b[0]))
        if not same:
            diff += 1
print("%d of %d outputs identical" % (n - diff, n))
sys.exit(1 if diff else 0)

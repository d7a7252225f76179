#!/usr/bin/env python3
"""The live status line (issue 19 point 5): with stderr on a terminal, `Trying ADDR port 25…` is
shown while a check waits, overwritten in place ("\\r" + erase line) and erased at the end, so the
terminal is left with the report only; with stderr not a terminal (a pipe, a file), never.
Runs over the shipped healthy recording (no network)."""
import os, pty, select, subprocess, sys

mx, src = sys.argv[1], sys.argv[2]
rec = os.path.join(src, "tests", "rules", "shipped", "healthy", "recording.json")
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
failures = []

# stderr on a pseudo-terminal; stdout to a pipe (the report)
master, slave = pty.openpty()
p = subprocess.Popen([mx, "check", "--replay", rec], stdout=subprocess.PIPE, stderr=slave, env=env)
os.close(slave)
err = b""
while True:
    r, _, _ = select.select([master], [], [], 30)
    if not r:
        break
    try:
        chunk = os.read(master, 4096)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    err += chunk
out = p.stdout.read()
p.wait()
os.close(master)
text = err.decode("utf-8", "replace")
print(repr(text[:400]))
if "Trying 192.0.2.10 port 25\u2026" not in text:
    failures.append("terminal: no 'Trying 192.0.2.10 port 25…' status line: %r" % text[:300])
if "\r\x1b[K" not in text:
    failures.append("terminal: the status line is not written in place (\\r, erase line)")
if not text.endswith("\r\x1b[K"):
    failures.append("terminal: the status line is not erased at the end: %r" % text[-80:])
if "\n" in text:
    failures.append("terminal: the status line must never add a line: %r" % text)
if b"status:" not in out and b"OK" not in out:
    failures.append("the report is missing on stdout: %r" % out[:200])

# not a terminal: nothing
q = subprocess.run([mx, "check", "--replay", rec], capture_output=True, env=env)
if q.stderr:
    failures.append("not a terminal: stderr must stay empty, got %r" % q.stderr[:200])
if q.stdout != out:
    failures.append("the report differs with and without a terminal on stderr")

# a transcript is a dialogue on stderr: no status line mixed into it
master, slave = pty.openpty()
p = subprocess.Popen([mx, "check", "--replay", rec, "--transcript"], stdout=subprocess.PIPE, stderr=slave, env=env)
os.close(slave)
err = b""
while True:
    r, _, _ = select.select([master], [], [], 30)
    if not r:
        break
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    err += chunk
p.stdout.read()
p.wait()
os.close(master)
if b"\x1b[K" in err or b"-> EHLO" not in err:
    failures.append("--transcript on a terminal: dialogue without status lines expected: %r" % err[:300])

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")

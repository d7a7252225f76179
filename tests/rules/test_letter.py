#!/usr/bin/env python3
"""check --letter over a recording (the lab's 554 greeting): addressed to
postmaster@, UTC time, our source address, their MX, the exact 554 text,
and facts not established said to be unknown."""
import os, subprocess, sys
mx, src = sys.argv[1], sys.argv[2]
rec = os.path.join(src, "tests", "rules", "shipped", "reject554", "recording.json")
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
p = subprocess.run([mx, "check", "reject554.test", "--allow-reserved", "--timeout", "3", "--replay", rec, "--letter"],
                   capture_output=True, text=True, env=env)
print(p.stdout)
out = p.stdout
for want in ("To: postmaster@reject554.test", "Time of the test (UTC): 20", "Our sending addresses",
             "reverse DNS (PTR): unknown", "blocklists: unknown", "MX 10 mx.reject554.test: 192.0.2.30",
             "554", "Since when", "unknown (our mail logs"):
    assert want in out, "letter lacks %r" % want
again = subprocess.run([mx, "check", "reject554.test", "--allow-reserved", "--timeout", "3", "--replay", rec, "--letter"],
                       capture_output=True, text=True, env=env).stdout
assert again == out, "the letter of a replay must not change"
print("ok")

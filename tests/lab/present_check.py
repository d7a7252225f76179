#!/usr/bin/env python3
"""What an administrator sees while a check runs and in its text (issue 19, points 5 and 6), against
the lab's real servers (label lab).

usage: present_check.py MXDIAG LAB

- --transcript against the lab's Postfix (healthy.test): the connect, the greeting, EHLO and its
  multi-line 250 reply, STARTTLS and the TLS upgrade, EHLO again, each line prefixed by its
  connection; nothing of it without --transcript; the report on stdout is unchanged by it.
- -4 / -6 against a dual-stack domain (healthy.test: 192.0.2.10 and 2001:db8::10): only that
  family is probed and the other is named (mx.family_skipped); -4 on an IPv6-only domain
  (v6only.test): mx.no_family, exit 2; -4 -6 together: a usage error.
- EHLO capabilities in text and JSON (smtp.capabilities).
- implicit MX (aonly.test): not headed "MX preference 0".
Exit 77 (skip) when the lab cannot run here."""
import json, subprocess, sys

mx, lab = sys.argv[1], sys.argv[2]
failures = []


def run(*args):
    return subprocess.run([lab, "exec", mx, "check", "--allow-reserved", "--timeout", "3"] + list(args),
                          capture_output=True, text=True, timeout=120)


def check(cond, what):
    if not cond:
        failures.append(what)


chk = subprocess.run([lab, "check"], capture_output=True, text=True)
if chk.returncode != 0:
    sys.stdout.write(chk.stdout or chk.stderr)
    sys.exit(chk.returncode)

# --- transcript
t = run("--transcript", "healthy.test")
err = t.stderr
print(err)
for want in ("=== Trying 192.0.2.10 port 25...", "192.0.2.10:25/", "=== connected", "<- 220 mx.healthy.test ESMTP",
             "-> EHLO ", "<- 250-PIPELINING", "<- 250 ", "-> STARTTLS", "<- 220 2.0.0 Ready to start TLS",
             "== TLS started: TLSv1.", "== verification: ok", "[2001:db8::10]:25/"):
    check(want in err, "--transcript: stderr lacks %r" % want)
# EHLO again after TLS: two EHLO lines per connection
v4 = [l for l in err.splitlines() if l.startswith("192.0.2.10:25/") and "-> EHLO " in l]
check(len(v4) == 2, "--transcript: want EHLO twice (before and after STARTTLS) on 192.0.2.10, got %r" % v4)
check("[ " not in err.split("\n")[0] and " ms] " not in err, "--transcript lines carry no trace timestamps")
plain = run("healthy.test")
check("-> EHLO" not in plain.stderr and "=== Trying" not in plain.stderr,
      "without --transcript nothing of the dialogue is printed: %r" % plain.stderr[:300])
check("\r" not in plain.stderr and "\x1b[K" not in plain.stderr, "no status line when stderr is not a terminal")
check(t.returncode == plain.returncode == 0, "exit codes: %d %d" % (t.returncode, plain.returncode))
# capabilities in text: an ok finding, folded into the MX's OK line by default, in full with -v
flat = " ".join(run("-v", "healthy.test").stdout.split())
check("EHLO capabilities: PIPELINING, SIZE 10240000" in flat and "after STARTTLS:" in flat,
      "text lacks the EHLO capabilities: %r" % plain.stdout)

# --- -4 / -6 on a dual-stack domain
def findings(*args):
    p = run("--json", *args)
    try:
        return p.returncode, json.loads(p.stdout)["findings"]
    except ValueError:
        failures.append("%s: no JSON: %r %r" % (args, p.stdout[:200], p.stderr[:200]))
        return p.returncode, []


for flag, mine, other in (("-4", "192.0.2.10", "2001:db8::10"), ("-6", "2001:db8::10", "192.0.2.10")):
    rc, fs = findings(flag, "healthy.test")
    conn = [f["evidence"].get("address") for f in fs if f["code"] == "tcp.connected"]
    check(conn == [mine], "%s healthy.test: connected to %r, want only %s" % (flag, conn, mine))
    sk = [f for f in fs if f["code"] == "mx.family_skipped"]
    check(len(sk) == 1 and sk[0]["evidence"].get("skipped") == [other],
          "%s healthy.test: want mx.family_skipped naming %s, got %r" % (flag, other, sk))
    caps = [f for f in fs if f["code"] == "smtp.capabilities"]
    check(len(caps) == 1 and "STARTTLS" in caps[0]["evidence"].get("capabilities", []),
          "%s: smtp.capabilities with STARTTLS in evidence.capabilities: %r" % (flag, caps))
    check(rc == 0, "%s healthy.test: exit %d, want 0" % (flag, rc))
rc, fs = findings("-4", "v6only.test")
codes = [f["code"] for f in fs]
check("mx.no_family" in codes and "tcp.connected" not in codes and rc == 2,
      "-4 v6only.test: want mx.no_family, no connect, exit 2; got %r exit %d" % (codes, rc))
both = run("-4", "-6", "healthy.test")
check(both.returncode == 3 and "exclude each other" in both.stderr, "-4 -6: want a usage error, got %d %r"
      % (both.returncode, both.stderr))

# --- implicit MX heading
a = run("aonly.test")
check("mx.implicit" in run("-vv", "aonly.test").stdout and "MX preference 0" not in run("-vv", "aonly.test").stdout,
      "aonly.test heading: %r" % a.stdout[:600])

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("PASS present_check")

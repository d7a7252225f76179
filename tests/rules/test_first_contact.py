#!/usr/bin/env python3
"""First contact with the command line (issue 19, point 9), no network: a bare
`mxdiag` prints a short usage on stdout (exit 3); each command has its own
--help in one shape; options are taken before the command; "did you mean"
for commands, options, batch-list and configuration-file keys; --timeout 0
says what it wants; `check user@domain` asks RCPT TO for that address (with a
note), an explicit --rcpt wins.

  test_first_contact.py MXDIAG SOURCE_DIR"""
import json
import os
import subprocess
import sys
import tempfile

MX = sys.argv[1]
SRC = sys.argv[2]
REC = os.path.join(SRC, "tests", "rules", "shipped", "refused", "recording.json")
TMP = tempfile.mkdtemp(prefix="mxfirst-")
fails = 0
count = 0


def run(args, **kw):
    env = dict(os.environ, NO_COLOR="1")
    env.pop("MXDIAG_CONFIG", None)
    return subprocess.run([MX] + args, capture_output=True, text=True, timeout=60, env=env, **kw)


def check(name, ok, p=None):
    global fails, count
    count += 1
    if not ok:
        fails += 1
        extra = "" if p is None else "\n  exit %d\n  stdout: %s\n  stderr: %s" % (
            p.returncode, p.stdout[:600], p.stderr[:600])
        print("FAIL", name + extra)
    else:
        print("ok  ", name)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# bare mxdiag: a short usage on stdout, exit 3 (plugin convention), nothing on stderr
p = run([])
check("bare mxdiag: short usage on stdout, exit 3",
      p.returncode == 3 and p.stdout.startswith("Usage: mxdiag") and "check TARGET" in p.stdout and
      len(p.stdout.splitlines()) <= 15 and p.stderr == "", p)
p = run(["--no-color"])
check("options but no command: the short usage, exit 3", p.returncode == 3 and p.stdout.startswith("Usage: mxdiag"), p)
p = run(["--help"])
check("mxdiag --help: the full help, exit 0", p.returncode == 0 and "Commands:" in p.stdout and "--timeout" in p.stdout, p)

# each command's own help, one shape
for cmd in ["check", "local", "logs", "batch", "rules"]:
    p = run([cmd, "--help"])
    out = p.stdout
    ok = (p.returncode == 0 and out.startswith("Usage: mxdiag %s" % cmd) and "\nOptions:\n" in out and
          "\nExit status" in out and "Global options (before or after the command):" in out and "\nSee also:" in out
          and "Commands:" not in out)
    check("%s --help: its own help (Usage, Options, Global options, Exit status, See also)" % cmd, ok, p)
    h = run(["help", cmd])
    check("mxdiag help %s == %s --help" % (cmd, cmd), h.returncode == 0 and h.stdout == out, h)
p = run(["rules", "list", "--help"])
check("rules list --help: the rules help", p.returncode == 0 and p.stdout.startswith("Usage: mxdiag rules"), p)
check("check and local help differ", run(["check", "-h"]).stdout != run(["local", "-h"]).stdout)

# global options before the command
p = run(["--no-color", "check", "--help"])
check("mxdiag --no-color check --help", p.returncode == 0 and p.stdout.startswith("Usage: mxdiag check"), p)
p = run(["--no-color", "--format", "nagios", "check", "--replay", REC])
check("mxdiag --no-color --format nagios check --replay: a plugin line",
      p.stdout.startswith("MXDIAG CRITICAL") and p.returncode == 2, p)
p = run(["--format=json", "--no-color", "check", "--replay", REC])
check("mxdiag --format=json check --replay: JSON", p.returncode == 2 and json.loads(p.stdout)["status"] == "crit", p)
p = run(["--no-color", "logs", "--json", os.path.join(SRC, "tests", "data", "logs", "binary-nul.log")])
check("mxdiag --no-color logs FILE: accepted", p.returncode in (0, 1, 2, 3) and "unknown option" not in p.stderr and
      json.loads(p.stdout)["files"], p)
cfg = write("typo.yaml", "timout: 3\n")
p = run(["--config", cfg, "check", "--only", "mx", "a.test"])
check("mxdiag --config FILE check: the file is read (its typo named, with the key it means)",
      p.returncode == 3 and "unknown key 'timout' (did you mean 'timeout'?)" in p.stderr, p)

# did you mean
for args, want, name in [
    (["chek", "a.test"], "unknown command 'chek' (did you mean 'check'?)", "command"),
    (["bacth", "l.yaml"], "(did you mean 'batch'?)", "command batch"),
    (["frobnicate"], "unknown command 'frobnicate' (check, local, logs, watch, batch, rules, version)", "no near command"),
    (["check", "--timout", "3", "a.test"], "mxdiag check: unknown option '--timout' (did you mean --timeout?)", "check option"),
    (["check", "--timout=3", "a.test"], "unknown option '--timout=3' (did you mean --timeout?)", "check option=value"),
    (["local", "--sysrot", "/", "a.test"], "mxdiag local: unknown option '--sysrot' (did you mean --sysroot?)", "local option"),
    (["--timout", "3", "check", "a.test"], "unknown option '--timout' (did you mean --timeout?)", "option before the command"),
    (["batch", "--concurency", "3", "/nonexistent/l.yaml"], "mxdiag batch: unknown option '--concurency' (did you mean --concurrency?)", "batch option, before the list is opened"),
    (["batch", "--tiemout", "3", "/nonexistent/l.yaml"], "(did you mean --timeout?)", "check option in batch"),
    (["logs", "--sinse", "2h"], "mxdiag logs: unknown option --sinse (did you mean --since?)", "logs option"),
    (["logs", "--probe", "1", "--resolvr", "127.0.0.1", "/dev/null"], "(did you mean --resolver?)", "check option in logs --probe"),
    (["rules", "lst"], "unknown rules subcommand 'lst' (did you mean 'list'?)", "rules subcommand"),
    (["check", "-x", "a.test"], "mxdiag check: unknown option '-x'", "short option"),
    (["check", "a.test", "--timeout"], "mxdiag check: option --timeout needs a value", "missing value"),
]:
    p = run(args)
    check("did you mean: %s (%s)" % (name, " ".join(args)), p.returncode == 3 and want in p.stderr and "Try 'mxdiag" in p.stderr, p)

# --timeout 0 and friends: one message, not contradicting itself
for val in ["0", "-1", "601", "abc", ""]:
    p = run(["check", "--timeout", val, "a.test"])
    check("--timeout %r: 'above 0, at most 600'" % val, p.returncode == 3 and "above 0, at most 600" in p.stderr and
          "from 0" not in p.stderr and "mxdiag check:" in p.stderr, p)
lst = write("zero.yaml", "defaults:\n  timeout: 0\ndomains: [a.test]\n")
p = run(["batch", "--no-config", lst])
check("batch list timeout: 0: same wording", p.returncode == 3 and "above 0, at most 600" in p.stderr, p)

# batch lists: key typos are named with the key meant
lst = write("typo.yaml", "defaults:\n  prot: 25\ndomains:\n  - a.test\n")
p = run(["batch", "--no-config", lst])
check("batch defaults: typo", p.returncode == 3 and "unknown key 'prot' (did you mean 'port'?)" in p.stderr, p)
lst = write("typo2.yaml", "domains:\n  - domian: a.test\n")
p = run(["batch", "--no-config", "-q", lst])
check("batch entry: typo", p.returncode == 3 and "unknown key 'domian' (did you mean 'domain'?)" in p.stderr and
      p.stdout == "", p)

# check user@domain: RCPT TO for that address, with a note; --rcpt wins. A
# resolver nobody answers on loopback: nothing leaves the machine.
NET = ["--no-config", "--resolver", "127.0.0.1:9", "--timeout", "0.5", "--only", "mx"]
rec = os.path.join(TMP, "rcpt.json")
p = run(["check"] + NET + ["--record", rec, "someone@a.test"])
opts = json.load(open(rec))["options"] if os.path.exists(rec) else {}
check("check user@domain: the recipient is asked (recorded rcpt) and a note says so",
      opts.get("rcpt") == "someone@a.test" and "also asking each MX whether it accepts <someone@a.test>" in p.stderr and
      "no mail is sent" in p.stderr, p)
os.unlink(rec) if os.path.exists(rec) else None
p = run(["check"] + NET + ["--record", rec, "--rcpt", "other@a.test", "someone@a.test"])
opts = json.load(open(rec))["options"] if os.path.exists(rec) else {}
check("check user@domain --rcpt X: X wins, no note", opts.get("rcpt") == "other@a.test" and "note" not in p.stderr, p)
os.unlink(rec) if os.path.exists(rec) else None
p = run(["check"] + NET + ["--record", rec, "a.test"])
opts = json.load(open(rec))["options"] if os.path.exists(rec) else {"rcpt": "?"}
check("check domain: no recipient asked", "rcpt" not in opts and "note" not in p.stderr, p)

print("%d passed, %d failed" % (count - fails, fails))
sys.exit(1 if fails else 0)

#!/usr/bin/env python3
"""The DNSBL key and the blocklists' usage limits, without network (issue 18):
  * --dnsbl-key and the config key dnsbl_key are validated, and the key is
    never echoed (not in errors, not in the JSON options of a run);
  * dnsbl_key is a run-wide setting: a batch list entry cannot set it;
  * batch warns (stderr and the summary) when the number of domains times the
    dnsbl-mx rule's queries exceeds a list's documented free volume, read from
    the catalog (`usage`); not below it, nor when dnsbl-mx is skipped.
DNS goes to 127.0.0.1:9 (nothing listens: refused at once)."""
import os
import subprocess
import sys
import tempfile

MXDIAG = sys.argv[1]
KEY = "sekritkey0123456789abcdefg"
fails = 0


def run(args, **kw):
    return subprocess.run([MXDIAG] + args, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, **kw)


def check(name, ok, p=None):
    global fails
    print("%s %s" % ("ok  " if ok else "FAIL", name))
    if not ok:
        fails += 1
        if p is not None:
            print("  exit %d\n  stdout: %s\n  stderr: %s" % (p.returncode, p.stdout[-1500:], p.stderr[-1500:]))


CATALOG = """local M = {}
M.lists = {
  { id = "tiny", name = "Tiny List", zone = "tiny.dnsbl.invalid", kind = { "ip4" },
    codes = { ["127.0.0.2"] = { meaning = "listed" } }, errors = {}, delist = "nowhere",
    usage = { queries_per_day = 5, terms = "Tiny: free below five queries a day" },
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } } },
  { id = "big", name = "Big List", zone = "big.dnsbl.invalid", kind = { "ip4" },
    codes = { ["127.0.0.2"] = { meaning = "listed" } }, errors = {}, delist = "nowhere",
    usage = { queries_per_day = 1000000 },
    test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } } },
}
M.public_resolvers = {}
return M
"""

with tempfile.TemporaryDirectory() as d:
    env = dict(os.environ, MXDIAG_CONFIG="")
    base = ["--no-config"]
    # 1. --dnsbl-key validation, never echoed
    p = run(["check", "--dnsbl-key", "bad.key-" + KEY, "--resolver", "127.0.0.1:9", "example.invalid"] + base, env=env)
    check("--dnsbl-key with a dot is a usage error that does not echo the key",
          p.returncode == 3 and "--dnsbl-key" in p.stderr and KEY not in p.stderr + p.stdout, p)
    # 2. a good key: the run's options say a key is set, never which
    p = run(["check", "--json", "--only", "mx", "--timeout", "1", "--resolver", "127.0.0.1:9", "--dnsbl-key", KEY,
             "example.invalid"] + base, env=env)
    # (exit 3 here is the check's "unknown": DNS is refused; a usage error would print to stderr)
    check("a run with --dnsbl-key never shows the key",
          KEY not in p.stdout + p.stderr and p.stdout.lstrip().startswith("{") and not p.stderr.strip(), p)
    # 3. the configuration file's dnsbl_key: validated, not echoed
    cfg = os.path.join(d, "mxdiag.yaml")
    with open(cfg, "w") as f:
        f.write("dnsbl_key: \"no spaces %s\"\n" % KEY)
    p = run(["check", "--config", cfg, "--resolver", "127.0.0.1:9", "example.invalid"], env=env)
    check("config dnsbl_key is validated and not echoed",
          p.returncode == 3 and "dnsbl_key" in p.stderr and KEY not in p.stderr + p.stdout, p)
    # 4. a batch entry cannot set it (run-wide secret)
    lst = os.path.join(d, "list.yaml")
    with open(lst, "w") as f:
        f.write("domains:\n  - domain: a.example.invalid\n    dnsbl_key: %s\n" % KEY)
    p = run(["batch", "--no-config", "-q", "--resolver", "127.0.0.1:9", "--timeout", "1", lst], env=env)
    check("a batch entry's dnsbl_key is refused without echoing it",
          "dnsbl_key" in p.stderr and KEY not in p.stderr + p.stdout, p)

    # 5. usage warning from the catalog's documented limits
    rules = os.path.join(d, "rules")
    os.makedirs(os.path.join(rules, "lib"))
    with open(os.path.join(rules, "lib", "dnsbl_catalog.lua"), "w") as f:
        f.write(CATALOG)
    three = os.path.join(d, "three.txt")
    with open(three, "w") as f:
        f.write("a.example.invalid\nb.example.invalid\nc.example.invalid\n")
    two = os.path.join(d, "two.txt")
    with open(two, "w") as f:
        f.write("a.example.invalid\nb.example.invalid\n")
    common = ["batch", "--no-config", "--rules-dir", rules, "--resolver", "127.0.0.1:9", "--timeout", "1",
              "--format", "summary"]
    p = run(common + [three], env=env)
    warn = [l for l in p.stderr.splitlines() if "blocklist usage" in l]
    check("3 domains x 2 queries > 5 a day: warned on stderr before the run, naming the list and its terms",
          len(warn) == 1 and "Tiny List" in warn[0] and "6 queries" in warn[0] and "five queries" in warn[0]
          and "Big List" not in p.stderr and p.stderr.index("blocklist usage") < len(p.stderr), p)
    check("... and in the summary", "blocklist usage" in p.stdout and "Tiny List" in p.stdout, p)
    p = run(common + [two], env=env)
    check("2 domains x 2 queries <= 5 a day: no warning", "blocklist usage" not in p.stderr + p.stdout, p)
    p = run(common + ["--skip", "dnsbl-mx", three], env=env)
    check("dnsbl-mx skipped: no warning", "blocklist usage" not in p.stderr + p.stdout, p)

print("%d failed" % fails)
sys.exit(1 if fails else 0)

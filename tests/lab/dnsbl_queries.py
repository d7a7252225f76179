#!/usr/bin/env python3
"""Lab test: which DNSBL names mxdiag actually asks (from a --record file).

usage: dnsbl_queries.py MXDIAG LAB
Runs `mxdiag check --sender-ip 2001:db8::bad --sender-ip 198.51.100.2
--sender-domain spammy.test --only dnsbl` inside the lab with --record and
checks the recorded dns.query names:
  * the IPv6 sender is asked as 32 reversed nibbles on zen.spamhaus.org;
  * the domain is never asked on an IP list, the addresses never on DBL;
  * the IPv6 sender is never asked on an IPv4-only list.
Exit 0 pass, 1 fail, 77 skip (as the lab decides)."""
import json, os, subprocess, sys, tempfile

IP_ZONES = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org", "dnsbl-1.uceprotect.net",
            "dnsbl-2.uceprotect.net", "dnsbl-3.uceprotect.net", "psbl.surriel.com", "bl.mailspike.net"]
V6_ONLY_ZEN = "d.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    chk = subprocess.run([lab, "check"], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.stdout.write(chk.stdout or chk.stderr)
        return chk.returncode
    with tempfile.TemporaryDirectory() as d:
        rec = os.path.join(d, "rec.json")
        cmd = [lab, "exec", mxdiag, "check", "--allow-reserved", "--only", "dnsbl", "--timeout", "3",
               "--sender-ip", "2001:db8::bad", "--sender-ip", "198.51.100.2", "--sender-domain", "spammy.test",
               "--record", rec, "--json", "healthy.test"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
        try:
            calls = json.load(open(rec))
        except (OSError, ValueError) as e:
            print("FAIL dnsbl_queries: no recording (%s)\n%s\n%s" % (e, p.stdout, p.stderr))
            return 1
    if isinstance(calls, dict):
        calls = calls.get("calls", [])
    names = sorted({c["args"]["name"] for c in calls if c.get("call") == "dns.query"})
    problems = []
    if V6_ONLY_ZEN + "zen.spamhaus.org" not in names:
        problems.append("IPv6 sender not asked as nibbles on zen.spamhaus.org")
    for z in IP_ZONES:
        if "spammy.test." + z in names:
            problems.append("domain asked on IP list " + z)
        if z != "zen.spamhaus.org" and V6_ONLY_ZEN + z in names:
            problems.append("IPv6 sender asked on IPv4-only list " + z)
    for n in names:
        if n.endswith(".dbl.spamhaus.org") and (n.startswith("2.100.51.198.") or n.startswith(V6_ONLY_ZEN)):
            problems.append("address asked on the domain list: " + n)
    if "spammy.test.dbl.spamhaus.org" not in names:
        problems.append("domain not asked on dbl.spamhaus.org")
    if problems:
        print("FAIL dnsbl_queries: " + "; ".join(problems))
        print("asked:\n  " + "\n  ".join(names))
        return 1
    print("PASS dnsbl_queries (%d names asked)" % len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Lab test: a run-level site rule (scope = "run") in a batch runs once for
the whole run and is reported once in the summary, not per domain (issue 20).

usage: runlevel_batch.py MXDIAG LAB
A site rule asks the lab's zen.spamhaus.org (rbldnsd) about the sending
addresses given as its rule option (198.51.100.1 is listed, 198.51.100.2 is
not). A batch of three lab domains with --record must: give each domain its
own status without the rule's finding; put "senders.listed" for
198.51.100.1 once in the summary; exit 2 (the run-level finding is crit);
and ask each sender's name exactly once in the whole run.
Exit 0 pass, 1 fail, 77 skip (as the lab decides)."""
import json, os, subprocess, sys, tempfile

RULE = r'''
return {
  id = "senders", description = "our sending addresses on the lab ZEN, once per run", scope = "run",
  options = { ips = "list" },
  codes = { ["senders.listed"] = "crit", ["senders.clean"] = "ok" },
  run = function(target, report)
    for _, ip in ipairs(report.options.ips or {}) do
      local o1, o2, o3, o4 = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
      local a = dns.query(table.concat({ o4, o3, o2, o1, "zen.spamhaus.org" }, "."), "A")
      local listed = a and a.status == "NOERROR" and #a.answers > 0
      report:finding { code = listed and "senders.listed" or "senders.clean",
        summary = ip .. (listed and " is listed on zen.spamhaus.org" or " is not listed"), evidence = { address = ip } }
    end
  end,
}
'''


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    chk = subprocess.run([lab, "check"], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.stdout.write(chk.stdout or chk.stderr)
        return chk.returncode
    problems = []
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        rules = os.path.join(d, "rules")
        os.mkdir(rules)
        with open(os.path.join(rules, "senders.lua"), "w") as f:
            f.write(RULE)
        lst = os.path.join(d, "list.txt")
        with open(lst, "w") as f:
            f.write("healthy.test\nbackup.test\nrefused.test\n")
        rec = os.path.join(d, "rec.json")
        cmd = [lab, "exec", mxdiag, "batch", "--no-config", "--allow-reserved", "--timeout", "3", "--rules-dir", rules,
               "--only", "mx,senders", "--rule-arg", 'senders.ips=["198.51.100.1","198.51.100.2"]', "--record", rec, lst]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        if len(lines) != 3:
            problems.append("expected 3 domain lines, got %d" % len(lines))
        for l in lines:
            if any(f["rule"] == "senders" for f in l["findings"]) or any(r["id"] == "senders" for r in l["rules"]):
                problems.append("%s carries the run-level rule" % l["target"]["input"])
            if l["status"] == "crit":
                problems.append("%s is crit: the run-level finding leaked into a domain" % l["target"]["input"])
        if p.stderr.count("senders.listed") != 1 or "198.51.100.1 is listed on zen.spamhaus.org" not in p.stderr:
            problems.append("the summary does not list senders.listed once for 198.51.100.1")
        if "senders.clean" not in p.stderr or "198.51.100.2 is not listed" not in p.stderr:
            problems.append("the summary lacks the clean sender")
        if p.returncode != 2:
            problems.append("batch exit %d, expected 2 (the run-level finding is crit)" % p.returncode)
        try:
            calls = json.load(open(rec))["calls"]
        except (OSError, ValueError, KeyError) as e:
            calls = []
            problems.append("no recording: %s" % e)
        for name in ("1.100.51.198.zen.spamhaus.org", "2.100.51.198.zen.spamhaus.org"):
            n = sum(1 for c in calls if c.get("call") == "dns.query" and c["args"].get("name") == name)
            if n != 1:
                problems.append("%s asked %d times in the run, expected once" % (name, n))
    if problems:
        print("FAIL runlevel_batch:\n  " + "\n  ".join(problems))
        print("stdout:\n%s\nstderr:\n%s" % (p.stdout[-3000:], p.stderr[-3000:]))
        return 1
    print("PASS runlevel_batch")
    return 0


if __name__ == "__main__":
    sys.exit(main())

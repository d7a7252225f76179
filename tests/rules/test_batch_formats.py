#!/usr/bin/env python3
"""batch output formats read against their own evidence, from shipped recordings (no network).

- prometheus: a domain listed more than once (a YAML list may check it with different settings)
  gets one sample per family, the worst status with its own duration: two samples with the same
  labels make node_exporter reject the whole textfile.
- summary: "resumed: 1 domain already done was skipped" (singular verb with a count of 1); the
  rate agrees with the count and the time, and a time under a second is not shown as "0.0 s".
- jsonl: each entry's "rules" array is the one it gets alone, though the batch writes an entry a rule
  had in the check before as it is (the same state and reason: mx_check_rules_write)."""
import os, re, subprocess, sys, tempfile

mx, src = sys.argv[1], sys.argv[2]
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
shipped = os.path.join(src, "tests", "rules", "shipped")
tmp = tempfile.mkdtemp(prefix="mxdiag-batchfmt-")
failures = []


def batch(rec, lst, *args):
    p = subprocess.run([mx, "--no-config", "batch", "--replay", rec, "--allow-reserved", "--timeout", "3", "-q",
                        *args, lst], capture_output=True, text=True, env=env, timeout=120)
    return p.stdout


# ---- prometheus: one series per domain, the worst of its entries
healthy = os.path.join(shipped, "healthy", "recording.json")
lst = os.path.join(tmp, "dup.yaml")
open(lst, "w").write("domains:\n  - healthy.test\n  - domain: healthy.test\n    expect:\n"
                     "      mx: [mx.other.test]\n  - healthy.test\n")
csv = batch(healthy, lst, "--format", "csv").replace("\r\n", "\n").strip().split("\n")[1:]
rows = {int(r.split(",")[0]): r.split(",") for r in csv}
if sorted(rows) != [0, 1, 2] or rows[1][2] != "warn" or rows[0][2] != "ok":
    failures.append("csv: the three entries are not ok, warn, ok: %r" % csv)
for workers in ("1", "2"):
    prom = batch(healthy, lst, "--format", "prometheus", "-P", workers)
    samples = [l for l in prom.split("\n") if l and not l.startswith("#")]
    keys = [l.rsplit(" ", 1)[0] for l in samples]
    dups = sorted(set(k for k in keys if keys.count(k) > 1))
    if dups:
        failures.append("prometheus -P %s: series written more than once: %s" % (workers, dups))
    st = [l for l in samples if l.startswith("mxdiag_domain_status{")]
    if st != ['mxdiag_domain_status{domain="healthy.test"} 1']:
        failures.append("prometheus -P %s: want the worst status (1, the entry with expect.mx) once: %r"
                        % (workers, st))
    # once; which entry took the recorded time and which reused shared work differs from run to run
    du = [l for l in samples if l.startswith("mxdiag_domain_check_duration_seconds{")]
    allowed = ['mxdiag_domain_check_duration_seconds{domain="healthy.test"} %.3f' % (int(r[4]) / 1000.0)
               for r in rows.values()] + ['mxdiag_domain_check_duration_seconds{domain="healthy.test"} 0.000']
    if len(du) != 1 or du[0] not in allowed:
        failures.append("prometheus -P %s: want one duration of the domain's checks: %r" % (workers, du))
    if 'mxdiag_batch_domains{status="ok"} 2' not in samples or 'mxdiag_batch_domains{status="warn"} 1' not in samples:
        failures.append("prometheus -P %s: the totals must still count every entry: %r" % (workers, samples))
print("prometheus: a domain listed 3 times, one series, the worst status")

# ---- summary: counts agree with their nouns and verbs ("1 domain ... was", not "were")
one = os.path.join(tmp, "one.list")
open(one, "w").write("healthy.test\n")
out = os.path.join(tmp, "one.csv")
subprocess.run([mx, "--no-config", "batch", "--replay", healthy, "--allow-reserved", "--timeout", "3", "-q",
                "--format", "csv", "-o", out, one], capture_output=True, text=True, env=env, timeout=120)
r = subprocess.run([mx, "--no-config", "batch", "--replay", healthy, "--allow-reserved", "--timeout", "3",
                    "--format", "csv", "-o", out, "--resume", out, one], capture_output=True, text=True, env=env,
                   timeout=120)
if "resumed: 1 domain already done was skipped" not in r.stderr:
    failures.append("summary after --resume of 1 domain: %r" % r.stderr)
print("summary: resumed 1 domain, singular")

# ---- summary: the rate agrees with the count and the time it names
allrec = os.path.join(shipped, "refused", "recording.json")
lst3 = os.path.join(tmp, "three.list")
open(lst3, "w").write("refused.test\n" * 50)
s = batch(allrec, lst3, "--format", "summary")
m = re.match(r"mxdiag batch: (\d+) domains? checked in ([0-9.]+) s \((\d+)/s\)", s)
if not m:
    failures.append("summary: no first line: %r" % s[:200])
else:
    n, el, rate = int(m.group(1)), float(m.group(2)), int(m.group(3))
    decimals = len(m.group(2).split(".")[1]) if "." in m.group(2) else 0
    half = 0.5 * 10 ** -decimals  # the time as printed is rounded
    lo = n / (el + half) if el + half > 0 else 0
    hi = n / (el - half) if el - half > 0 else float("inf")
    if not (lo - 1 <= rate <= hi + 1):
        failures.append("summary: %d domains in %s s cannot be %d/s" % (n, m.group(2), rate))
    # a replay takes milliseconds: "checked in 0.0 s (1500/s)" divides by a time it shows as zero
    if rate > 0 and el == 0:
        failures.append("summary: %d/s, but the time is shown as %s s" % (rate, m.group(2)))
    print("summary: %d domains in %s s (%d/s)" % (n, m.group(2), rate))

# ---- jsonl: "rules" as each entry gets it alone (reasons that differ between entries, one state)
import json
entries = ["healthy.test", "domain: healthy.test\n    only: [mx]", "healthy.test",
           "domain: healthy.test\n    skip: [dnsbl]", "domain: healthy.test\n    skip: [tcp]", "healthy.test"]
def rules_of(lines):
    return {json.loads(l)["index"]: json.loads(l)["rules"] for l in lines.split("\n") if l}
lst = os.path.join(tmp, "entries.yaml")
open(lst, "w").write("domains:\n" + "".join("  - %s\n" % e for e in entries))
together = rules_of(batch(healthy, lst, "--format", "jsonl", "-j", "1"))
for i, e in enumerate(entries):
    one = os.path.join(tmp, "entry%d.yaml" % i)
    open(one, "w").write("domains:\n  - %s\n" % e)
    alone = rules_of(batch(healthy, one, "--format", "jsonl"))
    if together.get(i) != alone.get(0):
        failures.append("jsonl: entry %d (%s): rules %s in the batch, %s alone" % (
            i, e.replace("\n   ", ""), json.dumps(together.get(i)), json.dumps(alone.get(0))))

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")

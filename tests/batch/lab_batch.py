#!/usr/bin/env python3
"""Lab tests for `mxdiag batch` (run inside the lab: tests/lab/lab exec).

  lab_batch.py MXDIAG CASE      CASE: same | broken | shard | resume | interrupt | nagios | prometheus | maxconn | perdomain | resolver | zones | config | ratelimit | workers
Exit 0 pass, 1 fail. Only lab scenario domains (*.test) are used."""
import json, os, re, signal, subprocess, sys, tempfile, time

MX = sys.argv[1]
CASE = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="mxbatch-")
# scenario domains whose diagnosis does not depend on timing (SCENARIOS.md)
SCENARIOS = ["healthy.test", "refused.test", "rejected.test", "dropped.test", "hostunreach.test", "netunreach.test",
             "prohibited.test", "nullmx.test", "nonexistent.test", "aonly.test", "mxcname.test", "mxnoaddr.test",
             "mxreserved.test", "backup.test", "allrefuse.test", "fourdrop.test", "srcblock.test", "reject554.test",
             "tempfail421.test", "badname.test", "expired.test"]
COMMON = ["--timeout", "2", "--allow-reserved"]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(args, **kw):
    return subprocess.run([MX] + args, capture_output=True, text=True, timeout=300, **kw)


def write(name, text):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def codes(doc):
    return sorted({f["code"] for f in doc["findings"]})


def jsonl(path_or_text, is_text=False):
    text = path_or_text if is_text else open(path_or_text).read()
    out = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            fail("half-written line: %r" % line[:80])
        out.append(json.loads(line))
    return out


def case_same():
    lst = write("all.yaml", "domains:\n" + "".join("  - %s\n" % d for d in SCENARIOS))
    r = run(["batch", "-q", "-j", "64"] + COMMON + [lst])
    docs = {d["target"]["input"]: d for d in jsonl(r.stdout, True)}
    if sorted(docs) != sorted(SCENARIOS):
        fail("batch output covers %s" % sorted(docs))
    bad = []
    for dom in SCENARIOS:
        c = run(["check", "--json"] + COMMON + [dom])
        single = json.loads(c.stdout)
        if codes(single) != codes(docs[dom]) or single["status"] != docs[dom]["status"]:
            bad.append("%s: check %s %s / batch %s %s" % (dom, single["status"], codes(single), docs[dom]["status"],
                                                         codes(docs[dom])))
        if docs[dom]["index"] != SCENARIOS.index(dom):
            bad.append("%s: index %s" % (dom, docs[dom]["index"]))
    if bad:
        fail("\n  ".join(["batch and check differ:"] + bad))
    print("ok: %d domains, same codes and status as mxdiag check" % len(SCENARIOS))


def case_broken():
    lst = write("broken.yaml", """defaults:
  timeout: 2
domains:
  - healthy.test
  - not a domain
  - domain: refused.test
    colour: blue
  - domain: backup.test
    expect: {mx: [mx1.backup.test, mx2.backup.test]}
  - domain: aonly.test
    expect: {mx: [mx.elsewhere.test]}
  - [1, 2]
  - nullmx.test
""")
    r = run(["batch", "-q", "--allow-reserved", lst])
    docs = {d["target"]["input"]: d for d in jsonl(r.stdout, True)}
    if sorted(docs) != ["aonly.test", "backup.test", "healthy.test", "nullmx.test"]:
        fail("unexpected domains %s" % sorted(docs))
    for want in ["broken.yaml:5:5:", "broken.yaml:7:5: unknown key 'colour'", "broken.yaml:12:5:"]:
        if want not in r.stderr:
            fail("stderr lacks %r:\n%s" % (want, r.stderr))
    if "expect.met" not in codes(docs["backup.test"]):
        fail("backup.test: no expect.met: %s" % codes(docs["backup.test"]))
    if "expect.mx" not in codes(docs["aonly.test"]):
        fail("aonly.test: no expect.mx: %s" % codes(docs["aonly.test"]))
    if r.returncode != 2:
        fail("exit %d, want 2 (nullmx.test is crit)" % r.returncode)
    print("ok: bad entries reported with line:column, the rest ran; expect.mx/expect.met")


def names(n):
    return SCENARIOS + ["nx%03d.nonexistent.test" % i for i in range(n)]


def case_shard():
    doms = names(60)
    lst = write("list.txt", "\n".join(doms) + "\n")
    seen = []
    for k in (1, 2, 3):
        r = run(["batch", "-q", "--only", "mx", "--shard", "%d/3" % k] + COMMON + [lst])
        part = [d["target"]["input"] for d in jsonl(r.stdout, True)]
        if not part:
            fail("shard %d/3 is empty" % k)
        seen += part
    if sorted(seen) != sorted(doms):
        dup = sorted({d for d in seen if seen.count(d) > 1})
        fail("shards do not cover the list exactly once (dups %s, missing %s)" % (dup, sorted(set(doms) - set(seen))))
    print("ok: 3 shards cover %d domains exactly once" % len(doms))


def case_resume():
    doms = names(40)
    lst = write("list.txt", "\n".join(doms) + "\n")
    out = os.path.join(TMP, "out.jsonl")
    args = [MX, "batch", "-q", "-j", "4", "--timeout", "3", "--allow-reserved", "-o", out, "--resume", out, lst]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.2)
        if os.path.exists(out) and os.path.getsize(out) > 0 and len(open(out).read().splitlines()) >= 5:
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    if p.returncode != 130:
        fail("interrupted run exited %d, want 130: %s" % (p.returncode, err))
    first = jsonl(out)
    if not (0 < len(first) < len(doms)):
        fail("interrupted run wrote %d of %d" % (len(first), len(doms)))
    # a half-written line from a harder kill is dropped on resume
    with open(out, "a") as f:
        f.write('{"schema":"mxdiag.check/1","target":{"inp')
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    final = [d["target"]["input"] for d in jsonl(out)]
    if sorted(final) != sorted(doms):
        dup = sorted({d for d in final if final.count(d) > 1})
        fail("after resume: %d lines, dups %s, missing %s" % (len(final), dup, sorted(set(doms) - set(final))))
    if "resumed: %d" % len(first) not in r.stderr and "-q" not in args:
        fail("no resume note")
    print("ok: interrupted after %d, resumed to %d without duplicates" % (len(first), len(final)))


def case_interrupt():
    """Ctrl-C with slow (dropped) domains in flight: exit within 2 s, what
    finished written, the dropped ones named, a --resume command that
    completes the run; the progress line waits honestly (no ETA 0s); a
    second Ctrl-C exits at once."""
    import shlex
    fast = ["healthy.test", "refused.test", "nullmx.test", "nonexistent.test", "rejected.test", "backup.test"]
    slow = ["dropped.test", "fourdrop.test"]
    doms = fast + slow
    lst = write("int.txt", "\n".join(doms) + "\n")
    out = os.path.join(TMP, "int.jsonl")
    # --timeout 10: the dropped ones still wait when the fast ones are done, even under a sanitizer
    args = [MX, "batch", "--no-config", "--progress", "-j", "8", "--timeout", "10", "--allow-reserved", "-o", out, lst]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 7
    while time.time() < deadline:
        time.sleep(0.1)
        if os.path.exists(out) and len(open(out).read().splitlines()) >= len(fast):
            break
    time.sleep(1.0)  # the progress line ticks while only the slow ones run
    if p.poll() is not None:
        fail("the run ended before the signal (exit %s): the dropped domains should still be waiting" % p.returncode)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    took = time.time() - t0
    if took >= 2.0:
        fail("exit took %.2f s after SIGINT (want < 2 s)" % took)
    if p.returncode != 130:
        fail("exit %d, want 130:\n%s" % (p.returncode, err))
    done = [d["target"]["input"] for d in jsonl(out)]
    if sorted(done) != sorted(fast):
        fail("written: %s, want the fast ones %s" % (sorted(done), sorted(fast)))
    progress = err.split("\r")
    if any("ETA 0s" in line for line in progress):
        fail("progress line said ETA 0s with work in flight")
    if not any("waiting for the last 2" in line for line in progress):
        fail("no 'waiting for the last 2' on the progress line:\n%r" % err[-2000:])
    if "2 in flight were dropped:" not in err or not all("\n    %s\n" % d in err for d in slow):
        fail("the dropped domains are not named:\n%s" % err)
    if "failing domains (worst first)" not in err or "mx.ok " in err.split("most frequent problem codes")[-1].split("slowest")[0]:
        fail("summary: no failing domains, or ok codes among the problem codes:\n%s" % err)
    lines = err.splitlines()
    cmd = [l.strip() for i, l in enumerate(lines) if i and lines[i - 1].strip() == "to finish, run:"]
    if not cmd or "--resume %s" % out not in cmd[0]:
        fail("no resume command naming %s:\n%s" % (out, err))
    argv = shlex.split(cmd[0])
    if argv[0] != "mxdiag":
        fail("resume command %r" % cmd[0])
    r = subprocess.run([MX] + argv[1:], capture_output=True, text=True, timeout=120)
    final = [d["target"]["input"] for d in jsonl(out)]
    if sorted(final) != sorted(doms) or r.returncode != 2:
        fail("after the printed resume command (exit %d): %s" % (r.returncode, sorted(final)))
    print("ok: SIGINT exit in %.2f s, fast ones written, dropped ones named, resume command completes the list" % took)

    # not started yet: counted; results on a redirected stdout: -o added to the command
    lst2 = write("int2.txt", "\n".join(slow + fast) + "\n")
    out2 = os.path.join(TMP, "int2.jsonl")
    with open(out2, "w") as f:
        p = subprocess.Popen([MX, "batch", "--no-config", "-q", "-j", "1", "--timeout", "6", "--allow-reserved", lst2],
                             stdout=f, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    if time.time() - t0 >= 2.0 or p.returncode != 130:
        fail("-j 1: exit %d after %.2f s" % (p.returncode, time.time() - t0))
    if "1 in flight was dropped:\n    dropped.test\n" not in err or "not started: %d more entries" % (len(doms) - 1) not in err:
        fail("-j 1: unfinished not named:\n%s" % err)
    if "-o %s --resume %s" % (out2, out2) not in err:
        fail("-j 1: the resume command does not write to the redirected file:\n%s" % err)
    print("ok: unstarted entries counted; stdout redirected to a file gets -o FILE --resume FILE")

    # a second signal exits at once. The first ends the run within
    # milliseconds once the loop wakes, so a second SIGINT sent 20 ms later
    # often finds the process gone; and two SIGINTs sent back to back can
    # merge into one pending signal. A SIGTERM right after the SIGINT cannot
    # merge with it and reaches the same handler while the first signal's stop
    # is under way (exit 128 + the second delivered: either order). At most three
    # attempts.
    seen = False
    for attempt in range(3):
        p = subprocess.Popen(args[:1] + ["batch", "--no-config", "-q", "-j", "8", "--timeout", "6", "--allow-reserved",
                                         "-o", os.path.join(TMP, "int3.jsonl"), lst],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        took = time.time() - t0
        if took >= 0.5 or p.returncode not in (130, 143):
            fail("second signal: exit %d after %.2f s:\n%s" % (p.returncode, took, err))
        if "interrupted again: exiting now" in err:
            seen = True
            break
        if "interrupted: " not in err:
            fail("second signal: neither interruption said so:\n%s" % err)
    if not seen:
        fail("second signal: the first signal's stop finished before the second arrived, three times")
    print("ok: a second signal during the first one's stop exits at once (%.2f s)" % took)


def case_nagios():
    r = run(["check", "--format", "nagios"] + COMMON + ["refused.test"])
    line = r.stdout
    if r.returncode != 2 or not line.startswith("MXDIAG CRITICAL - refused.test") or line.count("\n") != 1 or "| " not in line:
        fail("nagios: exit %d %r" % (r.returncode, line))
    r = run(["check", "--format", "nagios"] + COMMON + ["healthy.test"])
    if r.returncode != 0 or not r.stdout.startswith("MXDIAG OK - healthy.test"):
        fail("nagios: exit %d %r" % (r.returncode, r.stdout))
    print("ok:", line.strip())


def case_prometheus():
    lst = write("p.txt", "healthy.test\nrefused.test\nnonexistent.test\n")
    out = os.path.join(TMP, "mxdiag.prom")
    r = run(["batch", "-q", "--format", "prometheus", "-o", out] + COMMON + [lst])
    text = open(out).read()
    for want in ['mxdiag_domain_status{domain="healthy.test"} 0', 'mxdiag_domain_status{domain="refused.test"} 2',
                 'mxdiag_batch_domains{status="crit"} 2', 'mxdiag_batch_code_domains{code="dns.nxdomain"} 1']:
        if want not in text:
            fail("prometheus output lacks %r:\n%s" % (want, text))
    fams = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE")]
    if len(fams) != len(set(fams)):
        fail("a metric family appears twice")
    if any(f.startswith(".mxdiag.prom.") or f.startswith("mxdiag.prom.tmp") for f in os.listdir(TMP)):
        fail("temporary file left")
    print("ok: prometheus textfile, exit %d" % r.returncode)


CONN_RE = re.compile(r"connections: (\d+) made, at most (\d+) open at once \(limit (\d+), --max-connections\); (\d+) waited")


def conn_stats(stderr):
    m = CONN_RE.search(stderr)
    if not m:
        fail("no connections line in the summary:\n%s" % stderr[-2000:])
    return [int(x) for x in m.groups()]  # made, peak, limit, waited


def by_domain(stdout):
    out = {}
    for d in jsonl(stdout, True):
        out.setdefault(d["target"]["input"], []).append((d["status"], codes(d)))
    return {k: sorted(v) for k, v in out.items()}


def compare(ref, got, what):
    bad = ["%s: %s / %s" % (dom, ref.get(dom), got.get(dom)) for dom in sorted(set(ref) | set(got))
           if ref.get(dom) != got.get(dom)]
    if bad:
        fail("\n  ".join(["%s: findings differ from the run without it:" % what] + bad))
    errs = sorted({c for v in got.values() for _, cs in v for c in cs if c in ("tcp.error", "rule.error")})
    if errs:
        fail("%s: %s among the findings" % (what, errs))


def case_maxconn():
    # 1. --max-connections 4 over every scenario: the cap is reached, never exceeded, same findings
    lst = write("all.yaml", "domains:\n" + "".join("  - %s\n" % d for d in SCENARIOS))
    ref = run(["batch", "-j", "64"] + COMMON + [lst])
    low = run(["batch", "-j", "64", "--max-connections", "4"] + COMMON + [lst])
    compare(by_domain(ref.stdout), by_domain(low.stdout), "--max-connections 4")
    made, peak, limit, waited = conn_stats(low.stderr)
    if limit != 4 or peak != 4 or waited == 0:
        fail("--max-connections 4: limit %d, peak %d, %d waited (want 4, 4, > 0)" % (limit, peak, waited))
    if ref.returncode != low.returncode:
        fail("exit %d with the cap, %d without" % (low.returncode, ref.returncode))
    print("ok: --max-connections 4: %d connections, at most %d at once, %d waited; same findings" % (made, peak, waited))
    # 2. 112 silently dropped connects at once (distinct per-domain timeouts make distinct probes) under
    # 96 open files: without the cap they would fail with EMFILE ("error"); with the default cap they queue
    entries = ["dropped.test"] * 40 + ["fourdrop.test"] * 18
    text = "domains:\n" + "".join("  - {domain: %s, timeout: %.3f}\n" % (d, 1 + i / 1000.0) for i, d in enumerate(entries))
    lst = write("drops.yaml", text)
    args = ["batch", "-j", "256", "--only", "tcp", "--per-host", "64", "--timeout", "4", "--allow-reserved", lst]
    ref = run(args)
    r = subprocess.run(["prlimit", "--nofile=96:96", MX] + args, capture_output=True, text=True, timeout=300)
    want_ref = {"dropped.test", "fourdrop.test"}
    if set(by_domain(ref.stdout)) != want_ref:
        fail("reference run covers %s" % sorted(by_domain(ref.stdout)))
    compare(by_domain(ref.stdout), by_domain(r.stdout), "ulimit -n 96")
    made, peak, limit, waited = conn_stats(r.stderr)
    rmade, rpeak, _, _ = conn_stats(ref.stderr)
    if rpeak <= 96:
        fail("the reference run had only %d connections open at once: the test would not reach EMFILE" % rpeak)
    if limit != 48 or peak != 48 or waited == 0:
        fail("ulimit -n 96: limit %d, peak %d, %d waited (want 48, 48, > 0)" % (limit, peak, waited))
    print("ok: ulimit -n 96, -j 256: %d connections, at most %d at once (limit %d; %d without it), %d waited; "
          "same findings, no error" % (made, peak, limit, rpeak, waited))


def case_perdomain():
    """A domain's own only/skip replace the run's rule selection for that domain alone."""
    lst = write("perdomain.yaml", """defaults:
  timeout: 2
domains:
  - healthy.test
  - domain: healthy.test
    only: [mx]
  - domain: refused.test
    skip: [network]
  - domain: dropped.test
    only: nosuchrule
  - domain: healthy.test
    only: smtp
""")
    r = run(["batch", "-q", "-j", "8", "--allow-reserved", lst])
    docs = {d["index"]: d for d in jsonl(r.stdout, True)}
    if sorted(docs) != [0, 1, 2, 4]:
        fail("indexes %s, want 0 1 2 4 (3 is a bad entry)" % sorted(docs))
    ran = {i: sorted(x["id"] for x in d["rules"] if x["status"] != "skipped") for i, d in docs.items()}
    if "smtp" not in ran[0] or "tcp" not in ran[0]:
        fail("entry 0 (no own selection) ran %s" % ran[0])
    if ran[1] != ["mx"]:
        fail("entry 1 (only: [mx]) ran %s" % ran[1])
    if any(x in ran[2] for x in ("tcp", "smtp", "path", "outbound")) or "mx" not in ran[2]:
        fail("entry 2 (skip: [network]) ran %s" % ran[2])
    if ran[4] != ["mx", "smtp", "tcp"]:
        fail("entry 4 (only: smtp, pulls in what it requires) ran %s" % ran[4])
    why = [x.get("reason") for x in docs[1]["rules"] if x["id"] == "tcp"]
    if why != ["not selected (only/skip of this entry)"]:
        fail("entry 1: tcp skipped with reason %s" % why)
    if "perdomain.yaml:9:5: dropped.test: 'only'/'skip' leave no rule to run (entry skipped)" not in r.stderr:
        fail("stderr lacks the bad entry:\n%s" % r.stderr)
    print("ok: per-domain only/skip: %s" % ran)


def case_resolver():
    """A domain's own resolver: its questions go there, and answers (and blocklist trust) from one
    resolver are never handed to a domain that uses another."""
    lst = write("resolver.yaml", """defaults:
  timeout: 2
domains:
  - domain: healthy.test
    only: [mx]
  - domain: healthy.test
    only: [mx]
    resolver: 127.0.0.99
  - domain: healthy.test
    only: [dnsbl]
    sender_ips: [198.51.100.1]
  - domain: healthy.test
    only: [dnsbl]
    sender_ips: [198.51.100.1]
    resolver: [127.0.0.3]
  - domain: healthy.test
    resolver: 999.1.1.1
""")
    r = run(["batch", "-q", "-j", "8", "--allow-reserved", "--resolver", "127.0.0.1", lst])
    docs = {d["index"]: d for d in jsonl(r.stdout, True)}
    if sorted(docs) != [0, 1, 2, 3]:
        fail("indexes %s, want 0-3 (4 is a bad entry)" % sorted(docs))
    want = {0: "mx.ok", 1: "dns.resolver_unreachable", 2: "dnsbl.listed", 3: "dnsbl.unreliable"}
    for i, code in want.items():
        if code not in codes(docs[i]):
            fail("entry %d: no %s in %s" % (i, code, codes(docs[i])))
    if "dnsbl.listed" in codes(docs[3]) or "dnsbl.unreliable" in codes(docs[2]):
        fail("blocklist answers crossed resolvers: %s / %s" % (codes(docs[2]), codes(docs[3])))
    ev = [f["evidence"].get("resolver") for f in docs[3]["findings"] if f["code"] == "dnsbl.unreliable"]
    if not ev or any(e != "127.0.0.3:53" for e in ev):
        fail("entry 3: dnsbl.unreliable names resolver %s, want 127.0.0.3:53" % ev)
    if "resolver.yaml:17:15: 'resolver' must list IP addresses with an optional :port" not in r.stderr:
        fail("stderr lacks the bad resolver:\n%s" % r.stderr)
    print("ok: per-domain resolver: %s" % {i: codes(d) for i, d in docs.items()})


def case_zones():
    """dnsbl_zones: only those lists are asked; a zone the catalog does not know is a generic
    RFC 5782 list (trust-tested, any 127/8 answer is a warn-level listing)."""
    lst = write("zones.yaml", """defaults:
  timeout: 2
  sender_ips: [198.51.100.1]
  only: [dnsbl]
domains:
  - healthy.test
  - domain: healthy.test
    dnsbl_zones: [rbl.lab.test, zen.spamhaus.org]
  - domain: healthy.test
    dnsbl_zones: [bl.spamcop.net]
""")
    r = run(["batch", "-q", "-j", "4", "--allow-reserved", "--resolver", "127.0.0.1", lst])
    docs = {d["index"]: d for d in jsonl(r.stdout, True)}
    def zones(i):
        out = set()
        for f in docs[i]["findings"]:
            if f["rule"] != "dnsbl":
                continue
            ev = f["evidence"]
            z = ev.get("zones") if isinstance(ev.get("zones"), list) else [ev.get("zone")]
            out.update((f["code"], x) for x in z if x)
        return out
    if ("dnsbl.listed", "dnsbl-1.uceprotect.net") not in zones(0):
        fail("entry 0 (whole catalog): no UCEPROTECT-1 listing: %s" % sorted(zones(0)))
    if zones(1) != {("dnsbl.listed", "rbl.lab.test"), ("dnsbl.listed", "zen.spamhaus.org")}:
        fail("entry 1 (rbl.lab.test, zen): %s" % sorted(zones(1)))
    sev = [f["severity"] for f in docs[1]["findings"] if f["evidence"].get("zone") == "rbl.lab.test"]
    if sev != ["warn"]:
        fail("entry 1: the generic list's listing has severity %s, want warn" % sev)
    if zones(2) != {("dnsbl.clean", "bl.spamcop.net")}:
        fail("entry 2 (spamcop only): %s" % sorted(zones(2)))
    print("ok: dnsbl_zones: %s" % {i: sorted(zones(i)) for i in docs})


def case_config():
    """The configuration file: its settings apply to check and batch, the command line wins, a batch
    list's own defaults: win over it, --no-config reads none, a wrong setting stops with FILE:LINE:COL."""
    cfg = write("mxdiag.yaml", "# site settings\nsender_ips: [198.51.100.1]\nonly: [dnsbl]\ntimeout: 2\n"
                               "allow_reserved: true\n")
    def check_codes(args, env=None):
        # as root, MXDIAG_CONFIG is used only with --allow-env (tests/local/test_paths.py: ignored without)
        r = subprocess.run([MX, "check", "--json"] + (["--allow-env"] if env else []) + args + ["healthy.test"],
                           capture_output=True, text=True, timeout=120, env=env)
        return codes(json.loads(r.stdout)) if r.stdout.strip() else r.stderr
    got = check_codes(["--config", cfg])
    if "dnsbl.listed" not in got or "mx.ok" in got:
        fail("--config: %s (want the dnsbl rule only, sender listed)" % got)
    got = check_codes(["--config", cfg, "--only", "mx"])
    if got != ["mx.ok", "mx.reserved_address"]:
        fail("--config with --only mx on the command line: %s" % got)
    env = dict(os.environ, MXDIAG_CONFIG=cfg)
    if "dnsbl.listed" not in check_codes([], env):
        fail("MXDIAG_CONFIG was not read")
    got = check_codes(["--no-config", "--allow-reserved", "--only", "mx"], env)
    if got != ["mx.ok", "mx.reserved_address"]:
        fail("--no-config: %s" % got)
    lst = write("cfgbatch.yaml", "defaults:\n  only: [mx]\ndomains:\n  - healthy.test\n")
    r = run(["batch", "-q", "--config", cfg, lst])
    got = codes(jsonl(r.stdout, True)[0])
    if got != ["mx.ok", "mx.reserved_address"]:
        fail("batch: the list's defaults: did not win over the configuration file: %s" % got)
    bad = write("bad.yaml", "timeout: 2\nsender_ips: [not-an-address]\n")
    r = subprocess.run([MX, "check", "--config", bad, "healthy.test"], capture_output=True, text=True, timeout=60)
    if r.returncode != 3 or "bad.yaml:2:13: 'sender_ips' must list IP addresses" not in r.stderr:
        fail("a wrong setting: exit %d, stderr %r" % (r.returncode, r.stderr))
    print("ok: configuration file for check and batch, precedence, --no-config, errors")


def case_ratelimit():
    # three domains on one MX whose Postfix allows 1 connection per minute per client (anvil): the
    # batch makes one connection in all (the probe carries the dialogue, and the run shares it), so
    # no domain is told "rate-limited" by a limit mxdiag tripped itself. From a source address no
    # other lab test uses towards this MX, so the minute's budget is fresh.
    doms = ["ratelimit-b.test", "ratelimit-c.test", "ratelimit-d.test"]
    lst = write("ratelimit.yaml", "domains:\n" + "".join("  - %s\n" % d for d in doms))
    r = run(["batch", "-j", "8", "--source-ip", "198.51.100.2"] + COMMON + [lst])
    got = by_domain(r.stdout)
    if sorted(got) != doms:
        fail("batch output covers %s" % sorted(got))
    bad = ["%s: %s" % (d, v) for d, v in got.items()
           if "smtp.greeting_ok" not in v[0][1] or "delivery.ok" not in v[0][1]
           or {"smtp.rate_limited", "smtp.greeting_tempfail", "delivery.delayed"} & set(v[0][1])]
    if bad:
        fail("a domain did not get a clean session:\n  " + "\n  ".join(bad))
    made, peak, _, _ = conn_stats(r.stderr)
    if made != 1:
        fail("%d connections for three domains on one MX address (want 1)" % made)
    print("ok: 3 domains on one MX limited to 1 connection/min: 1 connection, every session greeted")


WORKERS_RE = re.compile(r"connections per address: (\d+) addresses, at most (\d+) connections to one in the run, "
                        r"at most (\d+) at once to one \(limit (\d+), --per-host\)")
SHARED_RE = re.compile(r"workers: (\d+); work shared once per run: (\d+) results worked out, (\d+) read by another "
                       r"worker, (\d+) waited for")


def case_workers():
    """-P 2 against -P 1 (issue 21): a few hundred checks over the scenarios' few MX addresses give the
    same statuses and codes per domain, the same connections (each address probed once per run: the
    same count per address), --per-host 1 never exceeded across workers; the shared work is counted;
    an interrupted -P 2 run resumes without duplicates."""
    doms = SCENARIOS * 15
    lst = write("workers.txt", "\n".join(doms) + "\n")
    got = {}
    for p in (1, 2):
        t0 = time.time()
        r = run(["batch", "-j", "64", "-P", str(p), "--per-host", "1"] + COMMON + [lst])
        took = time.time() - t0
        lines = jsonl(r.stdout, True)
        if sorted(d["index"] for d in lines) != list(range(len(doms))):
            fail("-P %d: %d lines, indexes not each entry once" % (p, len(lines)))
        m = WORKERS_RE.search(r.stderr)
        if not m:
            fail("-P %d: no per-address connections line:\n%s" % (p, r.stderr[-2000:]))
        got[p] = (by_domain(r.stdout), conn_stats(r.stderr), [int(x) for x in m.groups()], r, took)
    ref, ref_conn, ref_addr, ref_r, t1 = got[1]
    two, two_conn, two_addr, two_r, t2 = got[2]
    compare(ref, two, "-P 2")
    if ref_r.returncode != two_r.returncode:
        fail("exit %d with -P 2, %d with -P 1" % (two_r.returncode, ref_r.returncode))
    if ref_conn[0] != two_conn[0] or ref_addr[:2] != two_addr[:2]:
        fail("connections differ: -P 1 made %d to %d addresses (at most %d to one), -P 2 made %d to %d (at most %d)"
             % (ref_conn[0], ref_addr[0], ref_addr[1], two_conn[0], two_addr[0], two_addr[1]))
    if two_addr[2] > 1 or two_addr[3] != 1:
        fail("-P 2: %d connections at once to one address with --per-host %d" % (two_addr[2], two_addr[3]))
    sm = SHARED_RE.search(two_r.stderr)
    if not sm or int(sm.group(1)) != 2 or int(sm.group(3)) == 0:
        fail("-P 2: the summary does not show two workers sharing work:\n%s" % two_r.stderr[-2000:])
    if SHARED_RE.search(ref_r.stderr):
        fail("-P 1 names workers sharing work")
    print("ok: %d checks, -P 1 %.1f s / -P 2 %.1f s: same codes per domain, %d connections to %d addresses "
          "(at most %d to one in the run) both ways, at most %d at once to one; -P 2 shared %s results, %s read "
          "across, %s waited" % (len(doms), t1, t2, two_conn[0], two_addr[0], two_addr[1], two_addr[2], sm.group(2),
                                 sm.group(3), sm.group(4)))
    # an interrupted -P 2 run, resumed
    rdoms = names(40)
    lst = write("wres.txt", "\n".join(rdoms) + "\n")
    out = os.path.join(TMP, "wres.jsonl")
    args = [MX, "batch", "-q", "-P", "2", "-j", "4", "--timeout", "3", "--allow-reserved", "-o", out, "--resume", out, lst]
    pr = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.1)
        if os.path.exists(out) and len(open(out).read().splitlines()) >= 5:
            break
    pr.send_signal(signal.SIGINT)
    _, err = pr.communicate(timeout=30)
    if pr.returncode != 130:
        fail("-P 2 interrupted: exit %d, want 130: %s" % (pr.returncode, err))
    first = jsonl(out)
    if not (0 < len(first) < len(rdoms)):
        fail("-P 2 interrupted run wrote %d of %d" % (len(first), len(rdoms)))
    subprocess.run(args, capture_output=True, text=True, timeout=300)
    final = [d["target"]["input"] for d in jsonl(out)]
    if sorted(final) != sorted(rdoms):
        fail("-P 2 after resume: %d lines for %d domains" % (len(final), len(rdoms)))
    print("ok: -P 2 interrupted after %d, resumed to %d without duplicates" % (len(first), len(final)))


{"same": case_same, "perdomain": case_perdomain, "resolver": case_resolver, "zones": case_zones,
 "config": case_config, "broken": case_broken, "shard": case_shard, "resume": case_resume, "interrupt": case_interrupt,
 "nagios": case_nagios,
 "prometheus": case_prometheus, "maxconn": case_maxconn, "ratelimit": case_ratelimit, "workers": case_workers}[CASE]()

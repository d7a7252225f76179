#!/usr/bin/env python3
"""A replay stands alone: `check D --OPTIONS --record R` then `check D --replay R`
(nothing else, as the README shows) gives the live run's output, because the
replay takes its options, selection and timeout from the recording. Options
that would change the engine's calls are refused, naming them; output options
are fine; the configuration file is not read. Loopback listeners stand in for
receivers; with the lab up (tests/lab/lab up), lab domains are recorded the
same way (tests/lab runs this script inside the lab as lab.replay_alone, tests/local inside
the path-lab with rate-limited routers as lab.pathlab_replay_alone)."""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import closed_port, SmtpListener

mx = sys.argv[1]
prefix = sys.argv[2:]          # e.g. [tests/lab/lab, exec] to run inside the lab
tmp = tempfile.mkdtemp(prefix="mxdiag-replay-alone-")
failures = []
env = dict(os.environ, NO_COLOR="1", MXDIAG_RULES_PATH="")
env.pop("MXDIAG_CONFIG", None)

def go(*args, extra_env=None):
    p = subprocess.run([*prefix, mx, *args], capture_output=True, text=True, timeout=300,
                       env=dict(env, **(extra_env or {})))
    return p

def scenario(name, target, opts):
    """Records with opts, replays with nothing but --replay (with and without
    the target, in each output format): every output equals the live run's."""
    rec = os.path.join(tmp, name + ".json")
    live = go("check", target, *opts, "--json", "--record", rec)
    if live.returncode not in (0, 1, 2, 3) or not live.stdout:
        failures.append("%s: live run failed (exit %d): %s" % (name, live.returncode, live.stderr))
        return
    doc = json.load(open(rec))
    for args in (["check", target, "--replay", rec, "--json"], ["check", "--replay", rec, "--json"]):
        r = go(*args)
        if r.stdout != live.stdout or r.returncode != live.returncode:
            import difflib
            failures.append("%s: %s differs from the live run (exit %d vs %d, %s):\n%s" % (
                name, " ".join(args[2:]), r.returncode, live.returncode, r.stderr.strip(), "".join(
                    difflib.unified_diff(live.stdout.splitlines(True), r.stdout.splitlines(True), "live", "replay"))))
        if "not in the recording" in r.stdout:
            failures.append("%s: a call was not in the recording" % name)
    # the README example: text output, recorded and replayed the same way
    rec_t = os.path.join(tmp, name + ".text.json")
    live_t = go("check", target, *opts, "--record", rec_t)
    again = go("check", target, "--replay", rec_t)
    if again.stdout != live_t.stdout:
        failures.append("%s: the text replay differs from the live text output" % name)
    print("%-26s %3d calls, %2d findings, options %s" % (
        name, len(doc["calls"]), len(json.loads(live.stdout)["findings"]), " ".join(opts)))
    return rec

smtp = SmtpListener()
closed = closed_port()
if prefix and "path-lab" in prefix[0]:
    # path-lab (prefix: path-lab limit strict mxp-c): paced traces under rate-limited ICMP, the
    # connect's ICMP error as evidence, both families
    first = None
    for name, addr in (("pathlab-dies", "203.0.113.194"), ("pathlab-rejected", "203.0.113.196"),
                       ("pathlab-dies-v6", "2001:db8:ff::194"), ("pathlab-rejected-v6", "2001:db8:ff::196")):
        r = scenario(name, addr, ["--allow-reserved", "--timeout", "2", "--helo", "probe.example"])
        first = first or r
elif prefix:
    # fourdrop: timeouts (the timeout is in the summaries) and traces
    targets = [("lab-healthy", "healthy.test"), ("lab-backup", "backup.test"), ("lab-refused", "refused.test"),
               ("lab-reject554", "reject554.test"), ("lab-fourdrop", "fourdrop.test")]
    first = None
    for name, dom in targets:
        r = scenario(name, dom, ["--allow-reserved", "--timeout", "3", "--helo", "probe.example",
                                 "--sender-ip", "192.0.2.25", "--mail-from", "postmaster@sender.test"])
        first = first or r
    scenario("lab-only", "healthy.test", ["--allow-reserved", "--timeout", "2", "--only", "mx,tcp,smtp"])
    scenario("lab-skip", "backup.test", ["--allow-reserved", "--timeout", "3", "--skip", "dnsbl,path"])
else:
    first = scenario("smtp-options", "127.0.0.1:%d" % smtp.port,
                     ["--timeout", "3", "--helo", "probe.example", "--sender-ip", "192.0.2.25",
                      "--mail-from", "postmaster@sender.test", "--rcpt", "postmaster@127.0.0.1"])
    scenario("port-option", "127.0.0.1", ["--timeout", "2", "--port", str(smtp.port)])
    scenario("closed-port", "127.0.0.1", ["--timeout", "3", "--port", str(closed)])
    scenario("source-only", "127.0.0.1:%d" % smtp.port,
             ["--timeout", "3", "--source-ip", "127.0.0.1", "--only", "tcp,smtp"])
    scenario("skip", "127.0.0.1:%d" % smtp.port, ["--timeout", "4", "--skip", "path"])
    bad = SmtpListener(greeting=b"554 5.7.1 mx.test: Client host rejected: go away\r\n")
    scenario("reject554", "127.0.0.1:%d" % bad.port, ["--timeout", "3", "--sender-ip", "127.0.0.2"])

rec = first
if rec:
    doc = json.load(open(rec))
    target = doc["checks"][0]["target"]
    tmo = "%g" % doc["options"]["timeout"]
    # conflicting options are refused, each named with the recorded value
    r = go("check", target, "--replay", rec, "--timeout", "7", "--resolver", "127.0.0.1", "--json")
    if r.returncode != 3 or r.stdout or "--timeout 7 (recorded: %s)" % tmo not in r.stderr or "--resolver" not in r.stderr:
        failures.append("conflicting options not refused by name: exit %d, %r" % (r.returncode, r.stderr))
    r = go("check", target, "--replay", rec, "--helo", "other.example")
    if r.returncode != 3 or '--helo "other.example" (recorded: "probe.example")' not in r.stderr:
        failures.append("a different --helo not refused: %r" % r.stderr)
    # restating a recorded value changes nothing, and is accepted
    same = go("check", target, "--replay", rec, "--timeout", tmo, "--json")
    plain = go("check", target, "--replay", rec, "--json")
    if same.returncode not in (0, 1, 2) or same.stdout != plain.stdout:
        failures.append("restating the recorded --timeout was refused or changed the output: %r" % same.stderr)
    # another target than the recorded one
    r = go("check", "other.example", "--replay", rec)
    if r.returncode != 3 or "is a recording of" not in r.stderr:
        failures.append("a replay of another target was not refused: %r" % r.stderr)
    # output options are fine
    for out in (["--letter"], ["--format", "nagios"], ["--trace", "--no-color"]):
        r = go("check", "--replay", rec, *out)
        if r.returncode not in (0, 1, 2) or not r.stdout:
            failures.append("output option %s refused in a replay: %r" % (out, r.stderr))
    # the configuration file is not read: an unreadable or a different one changes nothing
    cfg = os.path.join(tmp, "mxdiag.yaml")
    with open(cfg, "w") as f:
        f.write("timeout: 9\nport: 2525\nhelo: config.example\n")
    r = go("check", "--replay", rec, "--json", extra_env={"MXDIAG_CONFIG": cfg})
    if r.stdout != plain.stdout:
        failures.append("MXDIAG_CONFIG changed a replay: %r" % r.stderr)
    r = go("check", "--replay", rec, "--json", extra_env={"MXDIAG_CONFIG": os.path.join(tmp, "missing.yaml")})
    if r.stdout != plain.stdout:
        failures.append("a missing MXDIAG_CONFIG broke a replay: %r" % r.stderr)
    r = go("check", "--replay", rec, "--config", cfg)
    if r.returncode != 3 or "--config" not in r.stderr:
        failures.append("--config with --replay not refused: %r" % r.stderr)
    r = go("check", "--replay", rec, "--no-config", "--json")
    if r.stdout != plain.stdout:
        failures.append("--no-config changed a replay: %r" % r.stderr)
    # the same check without the recording's options would not match it (the test can fail)
    if not prefix:
        r = go("check", target, "--no-config", "--json")
        if r.stdout == plain.stdout:
            failures.append("a live run with default options equals the recording: the scenario tests nothing")
    # rules test: each test runs with its recording's options
    t = os.path.join(tmp, "ruletest")
    os.makedirs(t, exist_ok=True)
    with open(os.path.join(t, "recording.json"), "w") as f:
        json.dump(doc, f)
    with open(os.path.join(t, "expect.json"), "w") as f:
        json.dump({"status": json.loads(plain.stdout)["status"], "findings": []}, f)
    r = go("rules", "test", "--update", t)
    ok = go("rules", "test", t)
    if ok.returncode != 0 or "PASS" not in ok.stdout or "missing" in ok.stdout:
        failures.append("rules test of the recording failed: %s %s" % (ok.stdout, ok.stderr))
    r = go("rules", "test", t, "--timeout", "5", "--port", "26")
    if r.returncode != 3 or "--timeout, --port" not in r.stderr:
        failures.append("rules test did not refuse --timeout/--port: %r" % r.stderr)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

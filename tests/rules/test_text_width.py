#!/usr/bin/env python3
"""Text output at 60, 80 and 100 columns: `check --replay` of the shipped
recordings and `logs` of a test log, compared with the snapshots in
tests/rules/snapshots (regenerate with --update after an intended change,
and read the diff). Also: no line is wider than asked unless it is one word,
$COLUMNS and a terminal's own width (TIOCGWINSZ) are used when --width is
not given, colour only on a terminal and never with --no-color or NO_COLOR,
and an internationalised target shown in both forms."""
import fcntl, json, os, pty, re, struct, subprocess, sys, termios
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import closed_port

mx = os.path.abspath(sys.argv[1])
update = "--update" in sys.argv
here = os.path.dirname(os.path.abspath(__file__))
snapdir = os.path.join(here, "snapshots")
shipped = os.path.join(here, "shipped")
logdir = os.path.join(here, "..", "data", "logs")
failures = []
WIDTHS = (60, 80, 100)
# representative: all well, refused, rejected, no mail at all, silent drop, a fallback MX
RECORDINGS = ("healthy", "refused", "reject554", "nullmx", "dropped", "backup", "tempfail421", "dnsblpartial")
# -q (the verdict line) and -v (explanations and advice) snapshots too (issue 19)
LEVELS = ("healthy", "refused", "tempfail421")


def env(**extra):
    e = dict(os.environ)
    e.pop("MXDIAG_RULES_PATH", None)
    e.pop("COLUMNS", None)
    e["NO_COLOR"] = "1"
    e.update(extra)
    return e


def run(args, cwd=None, **extra):
    p = subprocess.run([mx, *args], capture_output=True, text=True, timeout=120, env=env(**extra), cwd=cwd)
    if p.returncode not in (0, 1, 2, 3):
        failures.append("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def cols(line):
    # East Asian wide characters do not occur in these outputs: one column each
    return len(line)


def check_fits(name, text, width):
    for n, line in enumerate(text.split("\n"), 1):
        if cols(line) > width and " " in line.strip():
            failures.append("%s: line %d is %d columns, wider than %d: %r" % (name, n, cols(line), width, line))


def snapshot(name, text):
    path = os.path.join(snapdir, name + ".txt")
    if update:
        with open(path, "w") as f:
            f.write(text)
        return
    try:
        want = open(path).read()
    except OSError:
        failures.append("%s: no snapshot %s (run with --update)" % (name, path))
        return
    if want != text:
        import difflib
        failures.append("%s: differs from its snapshot:\n%s" % (name, "".join(
            difflib.unified_diff(want.splitlines(True), text.splitlines(True), "snapshot", "now"))))


def words(text):
    return re.sub(r"\s+", " ", text).strip()


for rec in RECORDINGS:
    path = os.path.join(shipped, rec, "recording.json")
    by_width = {}
    for w in WIDTHS:
        out = run(["check", "--replay", path, "--width", str(w)]).stdout
        by_width[w] = out
        snapshot("check-%s.%d" % (rec, w), out)
        check_fits("check %s at %d" % (rec, w), out, w)
        # without --width, not a terminal: $COLUMNS
        if run(["check", "--replay", path], COLUMNS=str(w)).stdout != out:
            failures.append("check %s: COLUMNS=%d differs from --width %d" % (rec, w, w))
    # the same words at every width (wrapping moves them, never cuts them);
    # the layout differs below 80 columns only in the padding of the codes
    if words(by_width[80]) != words(by_width[100]):
        failures.append("check %s: 80 and 100 columns hold different words" % rec)
    if words(by_width[60]).replace(" ", "") != words(by_width[100]).replace(" ", ""):
        failures.append("check %s: 60 and 100 columns hold different text" % rec)
    # no COLUMNS, not a terminal: 80
    if run(["check", "--replay", path]).stdout != by_width[80]:
        failures.append("check %s: the default width off a terminal is not 80" % rec)

by_width_end = {}
STATUS_WORDS = ("OK ", "WARNING ", "CRITICAL ", "UNKNOWN ")
for rec in RECORDINGS:
    path = os.path.join(shipped, rec, "recording.json")
    for w in WIDTHS:
        quiet = run(["check", "--replay", path, "--width", str(w), "-q"])
        default = run(["check", "--replay", path, "--width", str(w)])
        verbose = run(["check", "--replay", path, "--width", str(w), "-v"])
        if rec in LEVELS:
            snapshot("check-%s.q.%d" % (rec, w), quiet.stdout)
            snapshot("check-%s.v.%d" % (rec, w), verbose.stdout)
            check_fits("check -q %s at %d" % (rec, w), quiet.stdout, w)
            check_fits("check -v %s at %d" % (rec, w), verbose.stdout, w)
        # the verdict first: a status word, the same at every verbosity; -q is that alone
        if not quiet.stdout.startswith(STATUS_WORDS) or quiet.returncode != default.returncode:
            failures.append("check -q %s at %d: not a verdict line: %r" % (rec, w, quiet.stdout))
        for name, out in (("default", default.stdout), ("-v", verbose.stdout)):
            if not out.startswith(quiet.stdout):
                failures.append("check %s %s at %d: does not start with the verdict line %r" % (name, rec, w, quiet.stdout))
            # and last, when the report is long (-v with a problem always is)
            entries = len(re.findall(r"(?m)^  (OK|INFO|UNKNOWN|WARN|CRIT) ", out))
            if name == "-v" and entries > 2 and not out.endswith("\n" + quiet.stdout):
                failures.append("check %s %s at %d: a long report does not end with the verdict" % (name, rec, w))
            if out.endswith("\n" + quiet.stdout) != by_width_end.setdefault((rec, name), out.endswith("\n" + quiet.stdout)):
                failures.append("check %s %s at %d: closes with the verdict at one width, not at another" % (name, rec, w))
        # compact by default: -v says more; no engine internals in text
        if len(default.stdout) >= len(verbose.stdout) and rec != "dnsblpartial":
            failures.append("check %s at %d: the default is not shorter than -v" % (rec, w))
        for out in (default.stdout, verbose.stdout):
            if re.search(r"conn=|#\d\b|\[\{|\[\]|\[\"", out):
                failures.append("check %s at %d: engine internals or JSON in text: %r" % (rec, w, out))

for w in WIDTHS:
    out = run(["logs", "--width", str(w), "--utc", "--now", "2024-03-02T00:00:00Z", "outage-port25.log"],
              cwd=logdir).stdout
    snapshot("logs-outage-port25.%d" % w, out)
    check_fits("logs at %d" % w, out, w)
    if not out.rstrip().endswith("status: crit"):
        failures.append("logs at %d: the status line does not end the report" % w)

# the live-probe section of logs, wrapped too (the probe's resolver is a closed loopback port)
probe = run(["logs", "--width", "60", "--utc", "--now", "2024-03-02T00:00:00Z", "--probe", "2", "--resolver",
             "127.0.0.1:%d" % closed_port(), "--timeout", "1", "outage-port25.log"], cwd=logdir).stdout
tail = probe[probe.find("live probe"):]
check_fits("logs --probe at 60", probe, 60)
if "live probe of the 2 domains" not in probe or tail.count("now: unknown") != 2 or "example.net" not in tail:
    failures.append("logs --probe text: no side-by-side of both domains: %r" % tail)

bad = run(["check", "--width", "19", "good.test"])
if bad.returncode != 3 or "--width must be a number of columns from 20 to 1000" not in bad.stderr:
    failures.append("--width 19 is not refused clearly: %d %r" % (bad.returncode, bad.stderr))
bad = run(["logs", "--width", "x", os.path.join(logdir, "outage-port25.log")])
if bad.returncode != 3 or "--width must be a number" not in bad.stderr:
    failures.append("logs --width x is not refused clearly: %d %r" % (bad.returncode, bad.stderr))


def on_tty(args, columns=70, **extra):
    """Runs mxdiag with stdout on a pseudo-terminal of the given width."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    e = env(**extra)
    if "NO_COLOR" not in extra:
        e.pop("NO_COLOR", None)
    p = subprocess.Popen([mx, *args], stdout=slave, stderr=subprocess.PIPE, env=e, cwd=logdir)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    p.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


logargs = ["logs", "--utc", "--now", "2024-03-02T00:00:00Z", "outage-port25.log"]
tty = on_tty(logargs, 70)
if "\033[1;31mcrit" not in tty:
    failures.append("logs on a terminal: no colour for the crit tag: %r" % tty[:300])
plain = re.sub(r"\033\[[0-9;]*m", "", tty)
check_fits("logs on a 70-column terminal", plain, 70)
if plain != run(logargs + ["--width", "70"], cwd=logdir).stdout:
    failures.append("logs on a 70-column terminal: not the --width 70 text without colour")
for label, extra_args, extra_env in (("--no-color", ["--no-color"], {}), ("NO_COLOR=1", [], {"NO_COLOR": "1"})):
    if "\033[" in on_tty(logargs + extra_args, 70, **extra_env):
        failures.append("logs on a terminal with %s: colour escapes written" % label)
ctty = on_tty(["check", "--replay", os.path.join(shipped, "refused", "recording.json")], 66)
if "\033[1;31mCRITICAL" not in ctty:
    failures.append("check on a terminal: no colour for CRITICAL")
check_fits("check on a 66-column terminal", re.sub(r"\033\[[0-9;]*m", "", ctty), 66)

# an internationalised target, in both forms (no network: the resolver is a closed loopback port)
res = "127.0.0.1:%d" % closed_port()
for typed, other in (("b\u00fccher.test", "xn--bcher-kva.test"), ("xn--bcher-kva.test", "b\u00fccher.test")):
    j = run(["check", typed, "--resolver", res, "--timeout", "1", "--only", "mx", "--json"])
    try:
        t = json.loads(j.stdout)["target"]
        if t.get("domain") != "xn--bcher-kva.test" or t.get("unicode") != "b\u00fccher.test" or t.get("input") != typed:
            failures.append("IDN %s: JSON target %r" % (typed, t))
    except (ValueError, KeyError) as e:
        failures.append("IDN %s: no JSON document (%s): %r %r" % (typed, e, j.stdout[:200], j.stderr[:300]))
    # the heading (after the verdict line and its next step) names the target
    lines = run(["check", typed, "--resolver", res, "--timeout", "1", "--only", "mx"]).stdout.split("\n")
    first = next((l for l in lines if l.startswith(typed)), lines[0])
    if not first.startswith(typed) or other not in first:
        failures.append("IDN %s: the heading does not show both forms: %r" % (typed, first))
# rules see both forms: a site rule says what it got
import tempfile
rdir = tempfile.mkdtemp(prefix="mxdiag-idn-rule-")
os.chmod(rdir, 0o755)
with open(os.path.join(rdir, "idn.lua"), "w") as f:
    f.write('return { id = "site-idn-seen", description = "Says the target\'s forms", categories = { "site" },\n'
            '  codes = { ["idn.seen"] = "info" },\n'
            '  run = function(target, report) report:finding { code = "idn.seen", severity = "info",\n'
            '    summary = "unicode=" .. tostring(target.unicode) .. " domain=" .. tostring(target.domain) } end }\n')
for typed, want in (("b\u00fccher.test", "unicode=b\u00fccher.test domain=xn--bcher-kva.test"),
                    ("good.test", "unicode=nil domain=good.test")):
    j = run(["check", typed, "--rules-dir", rdir, "--only", "site-idn-seen", "--json"])
    try:
        sums = [f["summary"] for f in json.loads(j.stdout)["findings"] if f["code"] == "idn.seen"]
    except (ValueError, KeyError):
        sums = []
    if sums != [want]:
        failures.append("rule's view of target %r: %r (want %r); stderr %r" % (typed, sums, want, j.stderr[:300]))
for typed, hint in (("http://good.test", "type the domain alone, e.g. good.test"),
                    (" smtp://mx.good.test:2525 ", "e.g. mx.good.test:2525"),
                    ("mailto:pm@good.test", "e.g. pm@good.test"),
                    ("\u2603.test", "not a valid internationalised domain name")):
    p = run(["check", typed])
    if p.returncode != 3 or hint not in p.stderr:
        failures.append("target %r: exit %d, no helpful message: %r" % (typed, p.returncode, p.stderr))

# a logged domain that is no valid IDN: logs --probe says why, in the probe's document
badlog = os.path.join(rdir, "bad-idn.log")
with open(badlog, "w") as f:
    for i in range(2):
        f.write("Mar  1 10:0%d:00 mx postfix/smtp[10%d]: 1A2B3C4D5%d: to=<a@xn--zz-.test>, relay=none, delay=1, "
                "delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.xn--zz-.test[192.0.2.9]:25: "
                "Connection refused)\n" % (i, i, i))
pj = run(["logs", "--json", "--utc", "--now", "2026-03-02T00:00:00Z", "--probe", "1", "--resolver",
          "127.0.0.1:%d" % closed_port(), "--timeout", "1", badlog])
try:
    probes = json.loads(pj.stdout)["probes"]
    if len(probes) != 1 or "invalid IDNA" not in (probes[0].get("error") or ""):
        failures.append("logs --probe of an invalid IDN: %r" % probes)
except (ValueError, KeyError) as e:
    failures.append("logs --probe of an invalid IDN: no JSON (%s): %r" % (e, pj.stderr[:300]))

import shutil
shutil.rmtree(rdir, ignore_errors=True)
if update:
    print("snapshots written to %s" % snapdir)
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("text width: %d recordings and the log report at %s columns, terminal width and colour, IDN targets: ok"
      % (len(RECORDINGS), "/".join(map(str, WIDTHS))))

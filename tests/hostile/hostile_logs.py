#!/usr/bin/env python3
"""Pathological input for `mxdiag logs`, end to end (issue 10).

usage: hostile_logs.py MXDIAG [--rss-run RSS_RUN] [--lines TSV] [--asan] [CASE...]

Each case generates its input in a temporary directory (deleted after), runs
`mxdiag logs` in text and --json mode and checks: the finding or error named
in the output, the exit code, no crash (no signal death, no sanitizer
report), a time bound, and the peak RSS of the run, which is printed for
every run: wait4's ru_maxrss taken by the small launcher rss_run (built next
to the tests), because measured from Python it would include the
interpreter's own size, kept by Linux across the fork and exec.  The RSS bound is 64 MiB, 512 MiB under ASan
(--asan, or detected in the binary).  Valid lines are the project's own
test lines (tests/data/logs/lines.tsv, the unit tests' table): every full
line there that the parser reads as an event or ignores, none unparsed.

Cases: binary nul long_line gzip empty missing signals sigpipe probe_signal
(all by default).
"""
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


class Run:
    pass


def run(label, args, timeout=30, env=None, stdin=None, signal_after=None, sig=signal.SIGINT,
        close_stdout=False):
    """Runs MXDIAG with args; returns Run (rc, out, err, rss_kb, secs).
    signal_after: send sig after that many seconds.  close_stdout: the
    reader of stdout goes away at once (as `| head -1` does)."""
    e = dict(os.environ)
    # one report line per line of text: the checks below read lines, not the
    # wrapping (tests/rules/test_text_width.py covers that)
    e["COLUMNS"] = "1000"
    e.update(env or {})
    rep_r, rep_w = os.pipe()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        out = fo
        if close_stdout:
            r, out = os.pipe()
            os.close(r)  # nobody reads: the first write gets EPIPE
        p = subprocess.Popen([RSS_RUN, str(rep_w), MXDIAG] + args, stdout=out, stderr=fe, stdin=stdin, env=e,
                             pass_fds=(rep_w,))
        os.close(rep_w)
        if close_stdout:
            os.close(out)
        report = os.fdopen(rep_r, "r")
        child = int(report.readline().split()[1])  # mxdiag's pid, for the signals
        sent = False
        while p.poll() is None:
            el = time.monotonic() - t0
            if signal_after is not None and not sent and el >= signal_after:
                os.kill(child, sig)
                sent = True
            if el > timeout:
                os.kill(child, signal.SIGKILL)
                fail("%s: no result within %d s (killed)" % (label, timeout))
                p.wait()
                break
            time.sleep(0.01)
        _, status, _, rss = report.readline().split()
        report.close()
        res = Run()
        res.secs = time.monotonic() - t0
        res.rc = os.waitstatus_to_exitcode(int(status))
        res.rss_kb = int(rss)
        res.signalled_early = signal_after is not None and not sent
        fo.seek(0)
        fe.seek(0)
        res.out = fo.read().decode("utf-8", "replace")
        res.err = fe.read().decode("utf-8", "replace")
    print("  %-34s rc=%-3d rss=%6.1f MiB  %.2f s" % (label, res.rc, res.rss_kb / 1024, res.secs), flush=True)
    check(res.rc >= 0, "%s: killed by signal %d (crash)" % (label, -res.rc))
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        check(bad not in res.err, "%s: sanitizer report:\n%s" % (label, res.err[-3000:]))
    check(res.rss_kb < RSS_LIMIT_KB, "%s: peak RSS %d KiB over the bound of %d KiB" % (label, res.rss_kb, RSS_LIMIT_KB))
    return res


def run_json(label, args, **kw):
    r = run(label + " --json", ["logs", "--json"] + args, **kw)
    try:
        r.doc = json.loads(r.out)
    except ValueError as e:
        r.doc = None
        fail("%s --json: output is not one valid JSON document (%s): %r" % (label, e, r.out[-300:]))
    return r


def run_text(label, args, **kw):
    r = run(label + " text", ["logs"] + args, **kw)
    # the status line ends the report (a --probe section may follow it)
    check(re.search(r"\nstatus: (ok|warn|crit|unknown)[^\n]*\n", r.out) is not None and r.out.endswith("\n"),
          "%s text: no status line, or a cut report: %r" % (label, r.out[-300:]))
    return r


def expect_code(r, code, label):
    check(r.rc == code, "%s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (label, r.rc, code, r.out[-1500:], r.err[-800:]))
    if getattr(r, "doc", None) is not None and code < 128:
        check(r.doc.get("exit_code") == code, "%s: JSON exit_code %r, expected %d" % (label, r.doc.get("exit_code"), code))


def codes(doc):
    return {f["code"]: f for f in (doc or {}).get("findings", [])}


def reasons(doc):
    return ((doc or {}).get("unparsed") or {}).get("reasons", {})


# ------------------------------------------------------------- valid lines

ESCAPES = {b"\\": b"\\", b"0": b"\0", b"r": b"\r", b"t": b"\t"}


def decode_line(s):
    """The line column's escapes (see the header of lines.tsv)."""
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
        elif s[i + 1:i + 2] == b"x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out += ESCAPES[s[i + 1:i + 2]]
            i += 2
    return bytes(out)


def valid_lines():
    lines = []
    with open(LINES, "rb") as fh:
        for row in fh.read().split(b"\n"):
            if not row or row.startswith(b"#"):
                continue
            cols = row.split(b"\t", 7)
            if len(cols) != 8:
                print("%s: bad row %r" % (LINES, row))
                sys.exit(1)
            if cols[0] == b"line" and not cols[1].startswith(b"unparsed:"):
                lines.append(decode_line(cols[7]))
    if not lines:
        print("no valid lines in %s" % LINES)
        sys.exit(1)
    return lines


DELIVERY = re.compile(rb"postfix[^:]*/smtp\[\d+\]: [0-9A-Za-z]+: to=<[^>]+>, relay=[^,]+\[[0-9.]+\]:25, .*status=deferred")


def delivery_line(lines, tmp):
    """A deferred Postfix delivery line that mxdiag counts as one event."""
    for l in lines:
        if DELIVERY.search(l) and b"\0" not in l:
            p = os.path.join(tmp, "one.log")
            with open(p, "wb") as f:
                f.write(l + b"\n")
            r = run("(valid line self-check)", ["logs", "--json", p])
            if json.loads(r.out)["events"] == 1:
                return l
    fail("no deferred delivery line in %s that parses as an event" % LINES)
    sys.exit(1)


# ------------------------------------------------------------------- cases

def case_binary(tmp, lines):
    p = os.path.join(tmp, "random.bin")
    with open(p, "wb") as f:
        f.write(random.Random(10).randbytes(4 * MiB))
    r = run_text("binary (4 MiB random)", [p])
    expect_code(r, 3, "binary text")
    check("logs.unparsed" in r.out and "binary" in r.out and "status: unknown" in r.out,
          "binary text: no logs.unparsed finding naming binary lines:\n" + r.out)
    j = run_json("binary (4 MiB random)", [p])
    expect_code(j, 3, "binary json")
    if j.doc:
        check(j.doc["status"] == "unknown" and j.doc["events"] == 0, "binary json: status/events %r" % j.doc["status"])
        u = codes(j.doc).get("logs.unparsed")
        check(u is not None and u["severity"] == "unknown", "binary json: logs.unparsed with severity unknown missing")
        check(reasons(j.doc).get("binary", 0) > 0, "binary json: no 'binary' unparsed reason: %r" % reasons(j.doc))


def case_nul(tmp, lines):
    """NUL bytes inside otherwise valid Postfix lines: those lines (only
    those) are unparsed as binary, the lines around them still count."""
    clean, mixed, nul_lines = [], [], 0
    for i, l in enumerate(lines):
        if i % 2 == 0 and len(l) > 20:
            mixed.append(l[:20] + b"\0" + l[20:])
            nul_lines += 1
        else:
            mixed.append(l)
            clean.append(l)
    pm, pc = os.path.join(tmp, "nul.log"), os.path.join(tmp, "clean.log")
    with open(pm, "wb") as f:
        f.write(b"\n".join(mixed) + b"\n")
    with open(pc, "wb") as f:
        f.write(b"\n".join(clean) + b"\n")
    ref = run_json("nul: the same without NUL lines", [pc])
    j = run_json("nul (every other line)", [pm])
    r = run_text("nul (every other line)", [pm])
    if ref.doc and j.doc:
        check(ref.doc["events"] > 0, "nul: reference file has no events")
        check(j.doc["events"] == ref.doc["events"],
              "nul: %d events, the lines without NUL alone give %d" % (j.doc["events"], ref.doc["events"]))
        check(reasons(j.doc).get("binary") == nul_lines,
              "nul: %d lines hold a NUL, unparsed binary=%r" % (nul_lines, reasons(j.doc).get("binary")))
        check(j.doc["lines"] == len(mixed), "nul: %d lines counted of %d" % (j.doc["lines"], len(mixed)))
        expect_code(j, ref.rc, "nul json (same verdict as without the NUL lines)")
        expect_code(r, ref.rc, "nul text")
        check("logs.unparsed" in r.out and "binary %d" % nul_lines in r.out, "nul text: unparsed binary count missing")


def case_long_line(tmp, lines):
    """A 100 MiB line: without newline, then followed by one valid line, then
    the same gzip-compressed (a small file that inflates to 100 MiB)."""
    good = delivery_line(lines, tmp)
    p = os.path.join(tmp, "long.log")
    blk = b"A" * MiB
    with open(p, "wb") as f:
        for _ in range(100):
            f.write(blk)
    j = run_json("100 MiB line, no newline", [p])
    r = run_text("100 MiB line, no newline", [p])
    expect_code(j, 3, "long line json")
    expect_code(r, 3, "long line text")
    if j.doc:
        check(j.doc["lines"] == 1 and reasons(j.doc).get("too_long") == 1,
              "long line: expected 1 line, unparsed too_long 1: %r" % j.doc["unparsed"])
    check("too_long 1" in r.out, "long line text: 'too_long 1' not named")
    with open(p, "ab") as f:
        f.write(b"\n" + good + b"\n")
    for th in ("1", "2"):
        j = run_json("100 MiB line + valid line, %s thr" % th, [p], env={"MXDIAG_LOG_THREADS": th})
        if j.doc:
            check(j.doc["events"] == 1 and reasons(j.doc).get("too_long") == 1,
                  "long line + valid: events %r, reasons %r" % (j.doc["events"], reasons(j.doc)))
            check(j.rc in (1, 2), "long line + valid: exit %d, the valid failure line should count (1 or 2)" % j.rc)
    r = run_text("100 MiB line + valid line", [p])
    check(r.rc in (1, 2) and "too_long 1" in r.out, "long line + valid text: rc %d" % r.rc)
    pz = p + ".gz"
    with open(p, "rb") as fi, gzip.open(pz, "wb", compresslevel=1) as fz:
        shutil.copyfileobj(fi, fz, MiB)
    os.unlink(p)
    j = run_json("gzip inflating to a 100 MiB line", [pz])
    if j.doc:
        check(j.doc["events"] == 1 and reasons(j.doc).get("too_long") == 1 and j.doc["files"][0]["gzip"],
              "gzip long line: %r" % {k: j.doc[k] for k in ("events", "unparsed")})


def case_gzip(tmp, lines):
    data = b"\n".join(lines * 20) + b"\n"  # enough for several deflate blocks
    full = gzip.compress(data, 6)
    pg = os.path.join(tmp, "whole.log.gz")
    with open(pg, "wb") as f:
        f.write(full)
    ref = run_json("gzip, whole", [pg])
    pt = os.path.join(tmp, "truncated.log.gz")
    with open(pt, "wb") as f:
        f.write(full[: len(full) // 2])
    j = run_json("gzip, truncated at half", [pt])
    r = run_text("gzip, truncated at half", [pt])
    if j.doc and ref.doc:
        f0 = j.doc["files"][0]
        check(not f0["ok"] and "truncated gzip" in f0.get("error", ""), "truncated gzip: file error %r" % f0)
        check(0 < j.doc["lines"] < ref.doc["lines"] and j.doc["events"] > 0,
              "truncated gzip: lines %d of %d, events %d: the decoded part must be reported"
              % (j.doc["lines"], ref.doc["lines"], j.doc["events"]))
        check(j.rc in (0, 1, 2), "truncated gzip: exit %d (lines were read, so a verdict)" % j.rc)
    check("truncated gzip" in r.out and "truncated gzip" in r.err, "truncated gzip text: error not named on stdout and stderr")
    ph = os.path.join(tmp, "header-only.gz")
    with open(ph, "wb") as f:
        f.write(full[:10])
    j = run_json("gzip, header only", [ph])
    expect_code(j, 3, "gzip header only")
    pb = os.path.join(tmp, "garbage.gz")
    with open(pb, "wb") as f:
        f.write(full[:10] + random.Random(11).randbytes(64 * 1024))
    j = run_json("gzip, garbage body", [pb])
    r = run_text("gzip, garbage body", [pb])
    expect_code(j, 3, "garbage gzip json")
    expect_code(r, 3, "garbage gzip text")
    if j.doc:
        err = j.doc["files"][0].get("error", "")
        check(re.search(r"corrupt gzip data|truncated gzip", err) is not None, "garbage gzip: error %r" % err)
    check(re.search(r"corrupt gzip data|truncated gzip", r.err) is not None, "garbage gzip: nothing on stderr")


def case_empty(tmp, lines):
    p = os.path.join(tmp, "empty.log")
    open(p, "wb").close()
    j = run_json("empty file", [p])
    r = run_text("empty file", [p])
    expect_code(j, 3, "empty json")
    expect_code(r, 3, "empty text")
    if j.doc:
        s = codes(j.doc).get("logs.scope", {})
        check(s.get("severity") == "unknown" and s.get("evidence", {}).get("judgement") == "no_lines",
              "empty: logs.scope %r" % s)
    check("nothing could be checked" in r.out, "empty text: 'nothing could be checked' missing")


def case_missing(tmp, lines):
    good = os.path.join(tmp, "good.log")
    with open(good, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    missing = os.path.join(tmp, "does-not-exist.log")
    adir = os.path.join(tmp, "a-directory")
    os.mkdir(adir)
    bad = [missing, adir]
    if os.geteuid() != 0:
        locked = os.path.join(tmp, "locked.log")
        shutil.copy(good, locked)
        os.chmod(locked, 0)
        bad.append(locked)
    else:
        print("  (root: a mode-000 file is readable; the directory stands in for an unreadable file)")
    ref = run_json("good file alone", [good])
    j = run_json("missing + directory + good", bad + [good])
    r = run_text("missing + directory + good", bad + [good])
    if j.doc and ref.doc:
        check(j.doc["events"] == ref.doc["events"] > 0, "missing: the good file's %d events not all reported (%d)"
              % (ref.doc["events"], j.doc["events"]))
        expect_code(j, ref.rc, "missing + good json (the good file's verdict)")
        errs = {f["path"]: f.get("error", "") for f in j.doc["files"]}
        check("No such file" in errs.get(missing, ""), "missing: error %r" % errs.get(missing))
        check("Is a directory" in errs.get(adir, ""), "directory: error %r" % errs.get(adir))
        if len(bad) > 2:
            check("Permission denied" in errs.get(bad[2], ""), "mode 000: error %r" % errs.get(bad[2]))
    expect_code(r, ref.rc, "missing + good text")
    check("No such file" in r.err and "Is a directory" in r.err, "missing: stderr does not name the failures: " + r.err)
    j = run_json("only missing", [missing])
    expect_code(j, 3, "only a missing file")


def big_log(tmp):
    """3 hard links to one 256 MiB log from tests/bench/gen_maillog.py."""
    chunk = os.path.join(tmp, "chunk.log")
    with open(chunk, "wb") as f:
        subprocess.run([sys.executable, os.path.join(SRC, "tests", "bench", "gen_maillog.py"), "8", "7"], stdout=f, check=True)
    data = open(chunk, "rb").read()
    os.unlink(chunk)
    paths = [os.path.join(tmp, n) for n in ("big-a.log", "big-b.log", "big-c.log")]
    with open(paths[0], "wb") as f:
        for _ in range(32):
            f.write(data)
    for p in paths[1:]:
        os.link(paths[0], p)
    return paths


def lines_up_to(path, nbytes):
    n = 0
    with open(path, "rb") as f:
        left = nbytes
        while left:
            b = f.read(min(left, 4 * MiB))
            if not b:
                break
            n += b.count(b"\n")
            left -= len(b)
    return n


def check_interrupted(label, doc, paths, signame):
    inter = doc.get("interrupted")
    if not check(inter is not None, "%s: no 'interrupted' in the JSON" % label):
        return
    check(inter["signal"] == signame and not inter["read_complete"], "%s: interrupted %r" % (label, inter))
    f = inter["file"]
    if not check(f in paths, "%s: stopped in %r" % (label, f)):
        return
    i = paths.index(f)
    check(inter["not_read"] == paths[i + 1:], "%s: not_read %r, expected %r" % (label, inter["not_read"], paths[i + 1:]))
    check(inter["lines"] > 0 and inter["byte"] > 0, "%s: nothing read before the signal? %r" % (label, inter))
    # exactly the whole lines up to the byte offset were read and counted
    want = lines_up_to(f, inter["byte"])
    check(inter["lines"] == want, "%s: %d lines up to byte %d, reported %d" % (label, want, inter["byte"], inter["lines"]))
    check(doc["lines"] == inter["lines"] + i * lines_up_to(paths[0], 1 << 40) if i else doc["lines"] == inter["lines"],
          "%s: total lines %d do not match the interruption point" % (label, doc["lines"]))
    st = {x["path"]: x for x in doc["files"]}
    check(st[f].get("interrupted") is True and not st[f]["ok"], "%s: file entry %r" % (label, st[f]))
    for p in paths[i + 1:]:
        check(st[p].get("not_read") is True and st[p]["lines"] == 0, "%s: file entry %r" % (label, st[p]))


def case_signals(tmp, lines):
    paths = big_log(tmp)
    runs = [("1", signal.SIGINT, "json"), ("2", signal.SIGINT, "text"), ("2", signal.SIGTERM, "json"),
            ("1", signal.SIGTERM, "text"), ("2", signal.SIGINT, "json")]
    for th, sig, mode in runs:
        name = signal.Signals(sig).name
        label = "%s after 0.5 s, %s thr" % (name, th)
        if mode == "json":
            r = run_json(label, paths, env={"MXDIAG_LOG_THREADS": th}, signal_after=0.5, sig=sig)
        else:
            r = run_text(label, paths, env={"MXDIAG_LOG_THREADS": th}, signal_after=0.5, sig=sig)
        if not check(not r.signalled_early, "%s: mxdiag finished before the signal: make the log bigger" % label):
            continue
        expect_code(r, 128 + sig, label)
        if mode == "json" and r.doc:
            check(r.doc["exit_code"] == 128 + sig, "%s: JSON exit_code %r" % (label, r.doc["exit_code"]))
            check(codes(r.doc).get("logs.scope") is not None and r.doc["events"] > 0,
                  "%s: no report of what was read" % label)
            check_interrupted(label, r.doc, paths, name)
            check("interrupted (%s): read " % name in r.err, "%s: stderr does not say it was interrupted" % label)
        if mode == "text":
            m = re.search(r"\ninterrupted \((\w+)\): read ([\d,]+) lines of (\S+) up to byte ([\d,]+)(?:; not read: (.*))?\n", r.out)
            if check(m is not None, "%s: no 'interrupted' line in the text report:\n%s" % (label, r.out[-1500:])):
                check(m.group(1) == name and m.group(3) in paths, "%s: %r" % (label, m.group(0)))
                nr = m.group(5).split(", ") if m.group(5) else []
                check(nr == paths[paths.index(m.group(3)) + 1:], "%s: not read %r" % (label, nr))
                check(int(m.group(2).replace(",", "")) == lines_up_to(m.group(3), int(m.group(4).replace(",", ""))),
                      "%s: line count does not match the byte offset" % label)
            check("logs.scope" in r.out and "(of what was read before the interruption)" in r.out,
                  "%s: the report of what was read is missing" % label)
    # a read blocked on a pipe (stdin): EINTR must stop it too
    good = b"\n".join(lines) + b"\n"
    for th in ("1", "2"):
        rd, wr = os.pipe()
        os.write(wr, good)  # < 64 KiB: fits in the pipe, the writer stays open
        r = run_json("SIGINT, blocked on stdin, %s thr" % th, ["-"], env={"MXDIAG_LOG_THREADS": th},
                     stdin=rd, signal_after=0.7, sig=signal.SIGINT, timeout=10)
        os.close(rd)
        os.close(wr)
        expect_code(r, 130, "stdin pipe")
        if r.doc:
            inter = r.doc.get("interrupted") or {}
            check(inter.get("file") == "-" and inter.get("lines") == len(lines) and inter.get("byte") == len(good),
                  "stdin pipe: interrupted %r, expected %d lines / %d bytes" % (inter, len(lines), len(good)))
    for p in paths:
        os.unlink(p)


def case_sigpipe(tmp, lines):
    p = os.path.join(tmp, "sp.log")
    with open(p, "wb") as f:
        f.write(b"\n".join(lines * 200) + b"\n")
    for args, label in (([p], "text"), (["--json", p], "json")):
        r = run("stdout closed (| head -1), " + label, ["logs"] + args, close_stdout=True)
        check(r.rc in (0, 1, 2), "sigpipe %s: exit %d (expected the report's own status)" % (label, r.rc))
        check(r.err == "", "sigpipe %s: not quiet, stderr: %r" % (label, r.err))
    # and through a real shell pipeline
    r = subprocess.run(["bash", "-c", '"$0" logs "$1" | head -1; echo "rc=${PIPESTATUS[0]}" >&2', MXDIAG, p],
                       capture_output=True, text=True, timeout=30)
    check(r.stdout.startswith("mxdiag logs: ") and r.stdout.count("\n") == 1, "| head -1: %r" % r.stdout)
    m = re.search(r"rc=(\d+)", r.stderr)
    check(m is not None and m.group(1) in ("0", "1", "2") and r.stderr.strip() == m.group(0),
          "| head -1: stderr %r" % r.stderr)


def case_probe_signal(tmp, lines):
    """SIGINT during --probe: a resolver on loopback that never answers keeps
    the live checks waiting; the log report must still come out whole."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    good = os.path.join(tmp, "probe.log")
    with open(good, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    args = [good, "--probe", "2", "--resolver", "127.0.0.1:%d" % port, "--timeout", "30"]
    j = run_json("SIGINT during --probe", args, signal_after=1.5, timeout=15)
    expect_code(j, 130, "probe json")
    if j.doc:
        inter = j.doc.get("interrupted") or {}
        check(inter.get("read_complete") is True and "stopped" in inter.get("probe", ""), "probe: interrupted %r" % inter)
        pr = j.doc.get("probes", [])
        check(len(pr) == 2 and all(x.get("error") == "interrupted before the check finished" for x in pr),
              "probe: probes %r" % [(x.get("status"), x.get("error")) for x in pr])
        check(j.doc["events"] > 0 and "logs.scope" in codes(j.doc), "probe: the log report is missing")
    r = run_text("SIGINT during --probe", args, signal_after=1.5, timeout=15)
    expect_code(r, 130, "probe text")
    check("the logs were read in full; live probe: stopped" in r.out, "probe text: no interruption line")
    s.close()


CASES = {
    "binary": case_binary, "nul": case_nul, "long_line": case_long_line, "gzip": case_gzip,
    "empty": case_empty, "missing": case_missing, "signals": case_signals, "sigpipe": case_sigpipe,
    "probe_signal": case_probe_signal,
}


def main():
    global MXDIAG, LINES, RSS_LIMIT_KB, RSS_RUN
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 3
    MXDIAG = os.path.abspath(args.pop(0))
    LINES = os.path.join(SRC, "tests", "data", "logs", "lines.tsv")
    RSS_RUN = os.path.join(os.path.dirname(MXDIAG), "tests", "hostile", "hostile_rss_run")
    asan = False
    want = []
    while args:
        a = args.pop(0)
        if a == "--lines":
            LINES = args.pop(0)
        elif a == "--rss-run":
            RSS_RUN = os.path.abspath(args.pop(0))
        elif a == "--asan":
            asan = True
        elif a in CASES:
            want.append(a)
        else:
            print("unknown case or option %s (cases: %s)" % (a, " ".join(CASES)))
            return 3
    if not os.access(RSS_RUN, os.X_OK):
        print("no launcher %s: build the hostile_rss_run target or pass --rss-run" % RSS_RUN)
        return 3
    with open(MXDIAG, "rb") as f:
        asan = asan or b"__asan_init" in f.read()
    RSS_LIMIT_KB = (512 if asan else 64) * 1024
    print("mxdiag %s%s; peak RSS bound %d MiB" % (MXDIAG, " (ASan)" if asan else "", RSS_LIMIT_KB // 1024))
    lines = valid_lines()
    t0 = time.monotonic()
    for name in want or list(CASES):
        tmp = tempfile.mkdtemp(prefix="mxdiag-hostile-")
        try:
            print("%s:" % name, flush=True)
            CASES[name](tmp, lines)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s), %.1f s" % (len(failures), time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Output files and --resume against a hostile file system (issue 16, points
5 and 8). mxdiag runs as root; a symbolic link planted at an output path must
not make it truncate or replace what the link points to.

usage: hostile_outputs.py MXDIAG SOURCE_DIR RSS_RUN CASE [--asan]
CASE: record | batch_out | batch_append | prometheus | rules_update  (a link
      at the output: refused with a message naming the link, exit 3 (rules
      test: a FAIL), the link's target unchanged; the same run with a plain
      file works)
      resume_zero | resume_sparse | resume_fifo  (--resume on /dev/zero, a
      1 GiB sparse file without a newline, a pipe: ends in seconds with a
      message, exit 3, peak RSS under 64 MiB)"""
import os, shutil, subprocess, sys, tempfile, threading, time

mx, src, rss_run, case = sys.argv[1:5]
tmp = tempfile.mkdtemp(prefix="mxdiag-outputs-")
failures = []
ENV = dict(os.environ, NO_COLOR="1", MXDIAG_RULES_PATH="")
# nothing leaves the machine: a closed loopback resolver, one-second timeouts
OFFLINE = ["--resolver", "127.0.0.1:9", "--timeout", "1"]
RSS_LIMIT_KB = (512 if "--asan" in sys.argv[5:] else 64) * 1024


def run(args, timeout=60):
    """mxdiag under rss_run: (exit code, stdout, stderr, peak RSS KiB, seconds)."""
    rep_r, rep_w = os.pipe()
    t0 = time.monotonic()
    p = subprocess.Popen([rss_run, str(rep_w), mx] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=ENV, pass_fds=(rep_w,))
    os.close(rep_w)
    report = os.fdopen(rep_r, "r")
    child = int(report.readline().split()[1])  # mxdiag's pid
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(child, 9)
        out, err = p.communicate()
        failures.append("%s: still running after %d s (killed)" % (" ".join(args), timeout))
    rep = report.readline().split()
    report.close()
    status, rss = int(rep[1]), int(rep[3])
    return os.waitstatus_to_exitcode(status), out, err, rss, time.monotonic() - t0


# no final newline: a --resume of the same file would cut it as a half-written line
PRECIOUS = "precious: not mxdiag's to overwrite"


def victim(text=None):
    global PRECIOUS
    if text is not None:
        PRECIOUS = text
    v = os.path.join(tmp, "victim")
    with open(v, "w") as f:
        f.write(PRECIOUS)
    return v


def planted(name):
    """A link at tmp/name pointing at a file the test owns."""
    v = victim()
    link = os.path.join(tmp, name)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(v, link)
    return link, v


def expect_refused(what, rc, out, err, link, v, want_rc=3):
    msg = (out + err).decode(errors="replace")
    if open(v).read() != PRECIOUS:
        failures.append("%s: the link's target was overwritten" % what)
    if not os.path.islink(link):
        failures.append("%s: the planted link was replaced" % what)
    if "symbolic link" not in msg or os.path.basename(link) not in msg:
        failures.append("%s: no message naming the link: %r" % (what, msg[-400:]))
    if want_rc is not None and rc != want_rc:
        failures.append("%s: exit %d, want %d" % (what, rc, want_rc))
    left = [n for n in os.listdir(tmp) if n.startswith(".")]
    if left:
        failures.append("%s: temporary files left behind: %s" % (what, left))


def domain_list():
    lst = os.path.join(tmp, "list.txt")
    with open(lst, "w") as f:
        f.write("example.invalid\n")
    return lst


if case == "record":
    args = ["check", "127.0.0.1:9", "--only", "tcp"] + OFFLINE + ["--record"]
    link, v = planted("rec.json")
    rc, out, err, _, _ = run(args + [link])
    expect_refused("check --record LINK", rc, out, err, link, v)
    plain = os.path.join(tmp, "plain.json")
    rc, out, err, _, _ = run(args + [plain])
    if not os.path.exists(plain) or '"mxdiag.recording/1"' not in open(plain).read():
        failures.append("check --record FILE: no recording written (exit %d): %r" % (rc, err[-300:]))
elif case in ("batch_out", "batch_append", "prometheus"):
    fmt = {"batch_out": "jsonl", "batch_append": "csv", "prometheus": "prometheus"}[case]
    lst = domain_list()
    link, v = planted("out." + fmt)
    extra = ["--resume", link] if case == "batch_append" else []
    base = ["batch", "--plain", "--only", "mx", "-q", "--format", fmt] + OFFLINE
    rc, out, err, _, _ = run(base + extra + ["-o", link, lst])
    expect_refused("batch --format %s -o LINK %s" % (fmt, " ".join(extra)), rc, out, err, link, v)
    plain = os.path.join(tmp, "plain." + fmt)
    extra = ["--resume", plain] if case == "batch_append" else []
    rc, out, err, _, _ = run(base + extra + ["-o", plain, lst])
    if not os.path.exists(plain) or "example.invalid" not in open(plain).read():
        failures.append("batch -o FILE: nothing written (exit %d): %r" % (rc, err[-300:]))
    if case == "prometheus" and oct(os.stat(plain).st_mode & 0o777) == "0o600":
        failures.append("prometheus textfile is 0600: node_exporter could not read it")
elif case == "rules_update":
    t = os.path.join(tmp, "nullmx")
    shutil.copytree(os.path.join(src, "tests", "rules", "shipped", "nullmx"), t)
    link = os.path.join(t, "expect.json")
    # the link's target reads as an expect.json (--update reads it first), with
    # a finding the replay does not make, so that --update has to rewrite it
    original = open(link).read()
    v = victim(original.replace('"findings": [', '"findings": [{"rule": "x", "code": "x.planted", "severity": "ok", "summary": "x"},', 1))
    os.unlink(link)
    os.symlink(v, link)
    rc, out, err, _, _ = run(["rules", "test", "--update", t])
    expect_refused("rules test --update (expect.json a link)", rc, out, err, link, v, want_rc=None)
    if rc == 0:
        failures.append("rules test --update: exit 0 although expect.json could not be written")
    if [n for n in os.listdir(t) if n.startswith(".")]:
        failures.append("rules test --update: temporary left in the test directory")
    os.unlink(link)
    with open(link, "w") as f:
        f.write(PRECIOUS)
    rc, out, err, _, _ = run(["rules", "test", "--update", t])
    if rc != 0 or "x.planted" in open(link).read():
        failures.append("rules test --update: a plain expect.json not written (exit %d): %r" % (rc, out[-300:]))
elif case.startswith("resume_"):
    lst = domain_list()
    if case == "resume_zero":
        res = "/dev/zero"
    elif case == "resume_sparse":
        res = os.path.join(tmp, "sparse.jsonl")
        with open(res, "wb") as f:
            f.truncate(1 << 30)  # 1 GiB of NUL bytes, no newline, no disk used
    else:
        res = os.path.join(tmp, "fifo")
        os.mkfifo(res)
        # an endless writer: without the check, mxdiag would read forever
        def feed():
            try:
                with open(res, "wb") as f:
                    while True:
                        f.write(b"x" * 65536)
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    rc, out, err, rss, secs = run(["batch", "--plain", "--only", "mx", "-q", "--resume", res] + OFFLINE + [lst],
                                  timeout=30)
    msg = err.decode(errors="replace")
    if rc != 3:
        failures.append("--resume %s: exit %d, want 3" % (case, rc))
    if "--resume" not in msg:
        failures.append("--resume %s: no message: %r" % (case, msg[-300:]))
    if rss > RSS_LIMIT_KB:
        failures.append("--resume %s: peak RSS %d KiB > %d KiB" % (case, rss, RSS_LIMIT_KB))
    if secs > 20:
        failures.append("--resume %s: took %.1f s" % (case, secs))
    print("--resume %s: exit %d in %.2f s, peak RSS %d KiB: %s" % (case, rc, secs, rss, msg.strip()))
else:
    print("unknown case " + case)
    sys.exit(2)

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok " + case)

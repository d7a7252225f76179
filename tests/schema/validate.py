#!/usr/bin/python3
"""Validates mxdiag's machine-readable outputs against docs/schema/*.schema.json.

Runs with Debian's python3-jsonschema, so invoke it as /usr/bin/python3 (a
pyenv or venv python3 on PATH does not see Debian's packages).

usage:
  validate.py doc SCHEMA FILE...        validate JSON files (SCHEMA: check, logs, recording,
                                        batch-line (FILE is JSONL: every line), rules,
                                        rules-test-expect; `rules#/$defs/rule` etc. for a part)
  validate.py meta                      the schemas against the draft 2020-12 metaschema,
                                        every $ref resolvable
  validate.py files REPO                every committed recording.json and expect.json
  validate.py logs MXDIAG REPO          logs --json on tests/data/logs (and edge cases:
                                        empty, missing, stdin, interrupted, --probe on a replay)
  validate.py local MXDIAG REPO         local --json on every fixture of tests/data/local
  validate.py replay MXDIAG REPO        check --replay --json (and --record) of every committed
                                        recording; batch --replay in every format; rules list/show
  validate.py strict MXDIAG REPO        real documents changed in one way each (an added key,
                                        a wrong enum value, ...) must each be refused
  validate.py lab-check MXDIAG LAB REPO check --json for every lab scenario domain and every
                                        tests/lab/cases.txt case (with --record)
  validate.py lab-batch MXDIAG LAB      batch over lab domains: jsonl, csv, summary, prometheus
  validate.py lab-logs MXDIAG LAB       lab send, then logs --json and logs --probe 3 --json

Exit 0 when everything validates, 1 otherwise (each failure printed with its
JSON path), 77 when a lab command finds no lab (as the other lab tests).
A missing jsonschema module is a failure, never a skip."""
import csv
import glob
import io
import json
import os
import re
import signal
import subprocess
import sys
import atexit
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import jsonschema
except ImportError:
    print("FAIL: the Python module jsonschema is missing: install python3-jsonschema "
          "(apt-get install -y python3-jsonschema) and run this with /usr/bin/python3 (now: %s)" % sys.executable)
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "schema"))
SEV_RANK = {"ok": 0, "info": 0, "unknown": 1, "warn": 2, "crit": 3}
STATUS_OF_RANK = {0: "ok", 1: "unknown", 2: "warn", 3: "crit"}

failures = []
checked = [0]


def mkdtemp():
    d = tempfile.mkdtemp(prefix="mxschema-")
    atexit.register(shutil.rmtree, d, True)
    return d


def report(ok, what):
    if not ok:
        failures.append(what)
    print(("ok   " if ok else "FAIL ") + what, flush=True)


# ------------------------------------------------------------ schemas

def load_schemas():
    out = {}
    for path in sorted(glob.glob(os.path.join(SCHEMA_DIR, "*.schema.json"))):
        with open(path) as f:
            out[os.path.basename(path)[:-len(".schema.json")]] = json.load(f)
    if not out:
        print("FAIL: no schema in %s" % SCHEMA_DIR)
        sys.exit(1)
    return out


SCHEMAS = load_schemas()
STORE = {s["$id"]: s for s in SCHEMAS.values()}
# RefResolver is what Debian 12's jsonschema (4.10) has; newer ones warn but keep it.
import warnings
warnings.filterwarnings("ignore", category=DeprecationWarning)
_validators = {}


def validator(name):
    """name: a schema's short name (check, logs, ...), optionally with a
    fragment: "check#/$defs/not_checked"."""
    if name in _validators:
        return _validators[name]
    base, _, frag = name.partition("#")
    root = SCHEMAS[base]
    resolver = jsonschema.RefResolver.from_schema(root, store=STORE)
    schema = root if not frag else {"$schema": root["$schema"], "$ref": root["$id"] + "#" + frag}
    v = jsonschema.Draft202012Validator(schema, resolver=resolver)
    _validators[name] = v
    return v


def path_of(err):
    return "/" + "/".join(str(p) for p in err.absolute_path)


def semantic(doc):
    """What the check schema cannot say: status is the worst finding."""
    probs = []
    if isinstance(doc, dict) and doc.get("schema") == "mxdiag.check/1" and isinstance(doc.get("findings"), list) \
            and "rules" in doc:
        worst = max([SEV_RANK.get(f.get("severity"), 0) for f in doc["findings"] if isinstance(f, dict)] or [0])
        if doc.get("status") != STATUS_OF_RANK[worst]:
            probs.append("/status: %r, but the worst finding makes it %r" % (doc.get("status"), STATUS_OF_RANK[worst]))
    return probs


def logs_semantic(doc):
    """mxdiag.logs/1: the status is the worst finding (crit > warn > unknown >
    info), `unknown` when no file could be read (cli/cmd_logs.c)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or not isinstance(doc.get("files"), list):
        return []
    sevs = {f.get("severity") for f in doc["findings"] if isinstance(f, dict)}
    want = "crit" if "crit" in sevs else "warn" if "warn" in sevs else "unknown" if "unknown" in sevs else "ok"
    if not any(f.get("ok") or f.get("lines") for f in doc["files"] if isinstance(f, dict)):
        want = "unknown"
    if doc.get("status") != want:
        return ["/status: %r, but the findings and files make it %r" % (doc.get("status"), want)]
    return []


def problems(schema, doc):
    errs = sorted(validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    out = ["%s: %s" % (path_of(e), e.message[:400]) for e in errs]
    if schema in ("check", "batch-line"):
        out += semantic(doc)
    if schema == "logs":
        out += logs_semantic(doc)
        for i, p in enumerate(doc.get("probes", []) if isinstance(doc, dict) else []):
            out += ["/probes/%d%s" % (i, s) for s in semantic(p)]
    return out


def validate(schema, doc, what):
    checked[0] += 1
    probs = problems(schema, doc)
    report(not probs, "%s: %s%s" % (schema, what, "" if not probs else "\n       " + "\n       ".join(probs[:20])))
    return not probs


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        report(False, "%s: not JSON (%s): %r" % (what, e, text[:300]))
        return None


def validate_text(schema, text, what):
    doc = parse_json(text, what)
    if doc is not None:
        validate(schema, doc, what)
    return doc


def validate_jsonl(text, what, want_lines=None):
    docs = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    else:
        report(False, "%s: output does not end with a newline" % what)
    for i, line in enumerate(lines):
        doc = parse_json(line, "%s line %d" % (what, i + 1))
        if doc is not None:
            validate("batch-line", doc, "%s line %d" % (what, i + 1))
            docs.append(doc)
    if want_lines is not None:
        report(len(lines) == want_lines, "%s: %d lines (want %d)" % (what, len(lines), want_lines))
    return docs


# ------------------------------------------------------------ running mxdiag

ENV = dict(os.environ, NO_COLOR="1", MXDIAG_RULES_PATH="")


def run(cmd, what, exits=(0, 1, 2, 3), timeout=300, **kw):
    try:
        # bytes, decoded here: text=True would turn the CSV's CRLF into LF
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=ENV,
                           stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
        p.stdout = p.stdout.decode("utf-8", "replace")
        p.stderr = p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        report(False, "%s: did not finish in %d s: %s" % (what, timeout, " ".join(cmd)))
        return None
    if p.returncode not in exits:
        report(False, "%s: exit %d (want one of %s): %s\n%s" % (what, p.returncode, exits, " ".join(cmd),
                                                              p.stderr[-2000:]))
        return None
    return p


def check_exit(doc, p, what):
    if isinstance(doc, dict) and "exit_code" in doc:
        want = doc["exit_code"]
        run = doc.get("run")
        if isinstance(run, dict) and "exit_code" in run:
            # run-level rules (RULES.md): the process exits with the worse of the two
            # (severity order: CRITICAL 2 > WARNING 1 > UNKNOWN 3 > OK 0)
            order = {0: 0, 3: 1, 1: 2, 2: 3}
            want = max(want, run["exit_code"], key=lambda c: order.get(c, 0))
        report(want == p.returncode, "%s: JSON exit_code %r is the process's exit %d"
               % (what, doc["exit_code"], p.returncode))


# ------------------------------------------------------------ CSV / prometheus / summary

CSV_HEADER = ["index", "domain", "status", "exit_code", "duration_ms", "crit", "warn", "unknown", "codes"]
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.]*[a-z0-9_]$")
EXIT_OF = {"ok": 0, "warn": 1, "crit": 2, "unknown": 3}


def validate_csv(text, what, header=True, by_domain=None):
    """docs/schema/README.md, batch --format csv. by_domain: the same run's
    jsonl documents, to compare the rows with."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    probs = []
    if not text.endswith("\r\n"):
        probs.append("does not end with CRLF")
    if "\n" in text.replace("\r\n", ""):
        probs.append("a line ends with LF only (RFC 4180 wants CRLF)")
    if header:
        if not rows or rows[0] != CSV_HEADER:
            probs.append("header %r, want %r" % (rows[0] if rows else None, CSV_HEADER))
        rows = rows[1:]
    for n, r in enumerate(rows, 2 if header else 1):
        if len(r) != 9:
            probs.append("row %d: %d fields" % (n, len(r)))
            continue
        idx, dom, st, code, dur, crit, warn, unk, codes = r
        for name, v in (("index", idx), ("duration_ms", dur), ("crit", crit), ("warn", warn), ("unknown", unk)):
            if not re.fullmatch(r"[0-9]+", v):
                probs.append("row %d: %s %r is not a count" % (n, name, v))
        if not dom:
            probs.append("row %d: empty domain" % n)
        if st not in EXIT_OF or code != str(EXIT_OF.get(st)):
            probs.append("row %d: status %r with exit_code %r" % (n, st, code))
        for c in codes.split():
            if not CODE_RE.match(c):
                probs.append("row %d: %r is not a finding code" % (n, c))
        if by_domain is not None and dom in by_domain:
            d = by_domain[dom]
            f = d["findings"]
            want = [str(d["index"]), dom, d["status"], str(d["exit_code"]), str(d["duration_ms"]),
                    str(sum(x["severity"] == "crit" for x in f)), str(sum(x["severity"] == "warn" for x in f)),
                    str(sum(x["severity"] == "unknown" for x in f))]
            if r[:8] != want:
                probs.append("row %d: %r, the jsonl document says %r" % (n, r[:8], want))
            problem_codes = []
            for x in f:
                if SEV_RANK[x["severity"]] >= 1 and x["code"] not in problem_codes:
                    problem_codes.append(x["code"])
            if codes.split() != problem_codes:
                probs.append("row %d: codes %r, the jsonl document's warn/crit/unknown codes are %r"
                             % (n, codes, problem_codes))
    checked[0] += 1
    report(not probs, "csv: %s (%d rows)%s" % (what, len(rows), "" if not probs else "\n       " + "\n       ".join(probs[:20])))
    return rows


PROM_FAMILIES = {
    "mxdiag_domain_status": {"domain"},
    "mxdiag_domain_check_duration_seconds": {"domain"},
    "mxdiag_batch_domains": {"status"},
    "mxdiag_batch_bad_entries": set(),
    "mxdiag_batch_code_domains": {"code"},
    "mxdiag_batch_duration_seconds": set(),
    "mxdiag_batch_last_run_timestamp_seconds": set(),
}
PROM_SAMPLE = re.compile(r'^([a-z_]+)(?:\{([a-z_]+)="((?:[^"\\\n]|\\[\\"n])*)"\})? (-?[0-9]+(?:\.[0-9]+)?)$')


def validate_prometheus(text, what, domains=None):
    """The node_exporter textfile format (docs/schema/README.md): HELP and TYPE
    before each family's samples, every family once and contiguous, the
    documented metric names and labels only."""
    probs = []
    seen, current, typed = [], None, set()
    got_domains = set()
    if not text.endswith("\n"):
        probs.append("does not end with a newline")
    for n, line in enumerate(text.rstrip("\n").split("\n"), 1):
        m = re.match(r"^# (HELP|TYPE) ([a-z_]+) (.+)$", line)
        if m:
            kind, fam, rest = m.groups()
            if fam not in PROM_FAMILIES:
                probs.append("line %d: unknown family %s" % (n, fam))
            if kind == "HELP":
                if fam in seen:
                    probs.append("line %d: family %s appears twice" % (n, fam))
                seen.append(fam)
                current = fam
            elif fam != current or rest != "gauge":
                probs.append("line %d: TYPE %s %s (want gauge, after its HELP)" % (n, fam, rest))
            else:
                typed.add(fam)
            continue
        m = PROM_SAMPLE.match(line)
        if not m:
            probs.append("line %d: not a sample: %r" % (n, line[:200]))
            continue
        fam, label, value = m.group(1), m.group(2), m.group(3)
        if fam != current or fam not in typed:
            probs.append("line %d: sample of %s outside its family" % (n, fam))
        if ({label} if label else set()) != PROM_FAMILIES.get(fam, {None}):
            probs.append("line %d: %s with label %r" % (n, fam, label))
        if fam == "mxdiag_domain_status":
            got_domains.add(m.group(3))
            if m.group(4) not in ("0", "1", "2", "3"):
                probs.append("line %d: status %s" % (n, m.group(4)))
        if fam == "mxdiag_batch_domains" and m.group(3) not in EXIT_OF:
            probs.append("line %d: status label %r" % (n, m.group(3)))
        if fam == "mxdiag_batch_code_domains" and not CODE_RE.match(m.group(3)):
            probs.append("line %d: code label %r" % (n, m.group(3)))
    if set(seen) != set(PROM_FAMILIES):
        probs.append("families %s, want %s" % (sorted(seen), sorted(PROM_FAMILIES)))
    if domains is not None and got_domains != set(domains):
        probs.append("domains %s, want %s" % (sorted(got_domains), sorted(domains)))
    checked[0] += 1
    report(not probs, "prometheus: %s%s" % (what, "" if not probs else "\n       " + "\n       ".join(probs[:20])))


SUMMARY_FIRST = re.compile(r"^mxdiag batch: [0-9]+ domains? checked in [0-9.]+ s \([0-9]+/s\)(, INTERRUPTED)?$")
SUMMARY_STATUS = re.compile(r"^  status    ok [0-9]+   warn [0-9]+   crit [0-9]+   unknown [0-9]+(   bad entries [0-9]+)?$")


def validate_summary(text, what):
    lines = text.split("\n")
    ok = len(lines) >= 2 and SUMMARY_FIRST.match(lines[0]) and SUMMARY_STATUS.match(lines[1])
    checked[0] += 1
    report(bool(ok), "summary: %s%s" % (what, "" if ok else ": %r" % text[:300]))


# ------------------------------------------------------------ commands

def cmd_doc(schema, files):
    base = schema.partition("#")[0]
    if base not in SCHEMAS:
        print("unknown schema %r (have: %s)" % (schema, ", ".join(sorted(SCHEMAS))))
        return 3
    for f in files:
        text = sys.stdin.read() if f == "-" else open(f, encoding="utf-8", errors="surrogateescape").read()
        if schema == "batch-line":
            validate_jsonl(text, f)
        else:
            validate_text(schema, text, f)


def walk_refs(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from walk_refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_refs(v, "%s/%d" % (where, i))


def cmd_meta():
    meta = jsonschema.Draft202012Validator.META_SCHEMA
    report(meta.get("$id", "").startswith("https://json-schema.org/draft/2020-12/"), "the 2020-12 metaschema is known")
    ids = set()
    for name, s in sorted(SCHEMAS.items()):
        checked[0] += 1
        errs = list(jsonschema.Draft202012Validator(meta).iter_errors(s))
        report(not errs, "%s.schema.json is a valid draft 2020-12 schema%s" % (
            name, "".join("\n       %s: %s" % (path_of(e), e.message[:300]) for e in errs[:10])))
        report(s.get("$schema") == "https://json-schema.org/draft/2020-12/schema", "%s: $schema is draft 2020-12" % name)
        report(s.get("$id", "").endswith("/%s.schema.json" % name), "%s: $id %s names its file" % (name, s.get("$id")))
        report(bool(s.get("title")) and bool(s.get("description")), "%s: has a title and a description" % name)
        ids.add(s.get("$id"))
        resolver = jsonschema.RefResolver.from_schema(s, store=STORE)
        bad = []
        for where, ref in walk_refs(s, ""):
            try:
                resolver.resolve(ref)
            except Exception as e:  # noqa: BLE001 - any failure to resolve is the finding
                bad.append("%s: %s (%s)" % (where, ref, e))
        report(not bad, "%s: every $ref resolves%s" % (name, "".join("\n       " + b for b in bad)))
    report(len(ids) == len(SCHEMAS), "every schema has its own $id")
    # the README names every schema file
    readme = open(os.path.join(SCHEMA_DIR, "README.md")).read()
    for name in SCHEMAS:
        report("%s.schema.json" % name in readme, "docs/schema/README.md names %s.schema.json" % name)


def repo_files(repo, name):
    out = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("build")]
        if name in files:
            out.append(os.path.join(root, name))
    return sorted(out)


def cmd_files(repo):
    recs = repo_files(repo, "recording.json")
    report(len(recs) >= 10, "%d committed recordings found" % len(recs))
    for r in recs:
        validate_text("recording", open(r).read(), os.path.relpath(r, repo))
    exps = repo_files(repo, "expect.json")
    report(len(exps) >= 10, "%d committed expect.json found" % len(exps))
    for e in exps:
        validate_text("rules-test-expect", open(e).read(), os.path.relpath(e, repo))


def cmd_logs(mx, repo):
    data = os.path.join(repo, "tests", "data", "logs")
    logs = sorted(glob.glob(os.path.join(data, "*.log")))
    report(len(logs) >= 2, "%d test logs in tests/data/logs" % len(logs))
    tmp = mkdtemp()
    empty = os.path.join(tmp, "empty.log")
    open(empty, "w").close()
    cases = [([f], os.path.basename(f)) for f in logs]
    # the logs rules' verdicts, one generated log each (tests/data/logs/gen_scenarios.py)
    sys.path.insert(0, data)
    import gen_scenarios
    for name, gen in sorted(gen_scenarios.SCENARIOS.items()):
        path = os.path.join(tmp, "scenario-%s.log" % name)
        with open(path, "w") as f:
            f.write(gen().text())
        cases.append((["--now", "2024-03-02T00:00:00Z", path], "scenario " + name))
    # a site cause catalog: contrib's lib/log_patterns.lua adds the cause provider_throttled
    cases.append((["--now", "2024-03-02T00:00:00Z", "--rules-dir", os.path.join(repo, "contrib", "rules"),
                   os.path.join(tmp, "scenario-throttled.log")], "scenario throttled, site cause provider_throttled"))
    cases += [(logs, "all test logs together"),
              ([empty], "an empty file (judgement no_lines)"),
              ([os.path.join(tmp, "missing.log")], "a missing file"),
              ([empty, os.path.join(tmp, "missing.log")] + logs, "empty, missing and readable files"),
              (["--domain", "gmail.com"] + logs, "--domain filter"),
              (["--since", "2026-03-01T10:40", "--until", "2026-03-01T10:45"] + logs, "--since/--until"),
              (["--since", "2000-01-01", "--until", "2000-01-02"] + logs, "a range with no event (no_events)")]
    for args, what in cases:
        p = run([mx, "logs", "--no-config", "--json", "--utc"] + args, "logs " + what)
        if p:
            doc = validate_text("logs", p.stdout, "logs --json, " + what)
            check_exit(doc, p, "logs " + what)
    # standard input
    with open(logs[0], "rb") as f:
        p = run([mx, "logs", "--no-config", "--json", "--utc", "-"], "logs -", stdin=f)
    if p:
        validate_text("logs", p.stdout, "logs --json - (standard input)")
    # the systemd journal: two entries written by systemd-journal-remote
    # (package systemd-journal-remote), read with --journal-file
    export = os.path.join(tmp, "mail.export")
    with open(export, "w") as f:
        for i, msg in enumerate(["1A2B3C4D5E: to=<a@dest.example>, relay=mx.dest.example[192.0.2.10]:25, delay=1, "
                                 "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
                                 "2B3C4D5E6F: to=<b@refuse.example>, relay=none, delay=30, delays=0/0/30/0, "
                                 "dsn=4.4.1, status=deferred (connect to mx.refuse.example[198.51.100.20]:25: "
                                 "Connection refused)"]):
            f.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                    "SYSLOG_IDENTIFIER=postfix/smtp\nSYSLOG_PID=%d\n_HOSTNAME=mx1\nMESSAGE=%s\n\n"
                    % (1772359200000000 + i * 1000000, 1000 + i, 100 + i, msg))
    journal = os.path.join(tmp, "mail.journal")
    p = run(["/lib/systemd/systemd-journal-remote", "-o", journal, export], "systemd-journal-remote", exits=(0,))
    report(os.path.exists(journal), "systemd-journal-remote wrote a journal file (package systemd-journal-remote)")
    p = run([mx, "logs", "--no-config", "--json", "--utc", "--journal-file", journal], "logs --journal-file")
    if p:
        doc = validate_text("logs", p.stdout, "logs --json --journal-file")
        check_exit(doc, p, "logs --journal-file")
        report(doc is not None and doc.get("events") == 2 and doc["files"][0].get("journal") is True,
               "logs --journal-file: 2 events from the journal")
    # --probe, answered from a recording: no network; probed domains are not
    # in it, so every call is answered "not in the recording"
    rec = os.path.join(repo, "tests", "rules", "shipped", "healthy", "recording.json")
    rec_out = os.path.join(tmp, "probe-record.json")
    p = run([mx, "logs", "--no-config", "--json", "--utc", "--probe", "3", "--timeout", "2", "--replay", rec,
             "--record", rec_out] + logs, "logs --probe")
    if p:
        doc = validate_text("logs", p.stdout, "logs --json --probe 3 --replay (probes are mxdiag.check/1)")
        report(isinstance(doc, dict) and len(doc.get("probes", [])) == 3 and len(doc.get("probed_domains", [])) == 3,
               "logs --probe 3: 3 probed domains and 3 probes")
        if os.path.exists(rec_out):
            validate_text("recording", open(rec_out).read(), "--record of logs --probe")
        else:
            report(False, "logs --probe --record wrote no recording")
    # --probe with a logged domain that is no valid target: the not_checked form
    bad = os.path.join(tmp, "badtarget.log")
    with open(bad, "w") as f:
        for i in range(2):
            f.write("Mar  1 10:42:%02d mx postfix/smtp[123]: 4AB%dC: to=<u@-bad-.example>, relay=none, delay=30, "
                    "delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to -bad-.example[192.0.2.9]:25: "
                    "Connection timed out)\n" % (i, i))
    p = run([mx, "logs", "--no-config", "--json", "--utc", "--probe", "1", "--timeout", "2", "--replay", rec, bad],
            "logs --probe (invalid target)")
    if p:
        doc = validate_text("logs", p.stdout, "logs --json --probe 1 on a domain that is no valid target")
        probes = doc.get("probes", []) if isinstance(doc, dict) else []
        report(len(probes) == 1 and "error" in probes[0], "an invalid logged domain gets a probe document with error")
    # interrupted: SIGINT while reading a pipe that stays open
    pr = subprocess.Popen([mx, "logs", "--no-config", "--json", "--utc", "-"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    with open(logs[0], "rb") as f:
        pr.stdin.write(f.read())
    pr.stdin.flush()
    time.sleep(1.0)
    pr.send_signal(signal.SIGINT)
    try:
        out, _err = pr.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pr.kill()
        out, _err = pr.communicate()
    report(pr.returncode == 130, "logs interrupted by SIGINT exits 130 (got %s)" % pr.returncode)
    doc = validate_text("logs", out.decode("utf-8", "replace"), "logs --json interrupted by SIGINT")
    report(isinstance(doc, dict) and "interrupted" in doc, "the interrupted document says so")


def cmd_local(mx, repo):
    tmp = mkdtemp()
    fix = sorted(d for d in glob.glob(os.path.join(repo, "tests", "data", "local", "*")) if os.path.isdir(d))
    report(len(fix) >= 5, "%d local fixtures in tests/data/local" % len(fix))
    for d in fix:
        what = "local --json --sysroot tests/data/local/" + os.path.basename(d)
        rec = os.path.join(tmp, "local.rec.json")
        p = run([mx, "local", "--no-config", "--json", "--record", rec, "--sysroot", os.path.abspath(d)], what)
        if p:
            doc = validate_text("check", p.stdout, what)
            check_exit(doc, p, what)
            validate_text("recording", open(rec).read(), "--record of " + what)


def recording_args(rec):
    o = rec.get("options", {})
    args = ["--timeout", str(o.get("timeout", 10)), "--port", str(o.get("port", 25))]
    for key, opt in (("source_ips", "--source-ip"), ("sender_ips", "--sender-ip"), ("sender_domains", "--sender-domain"),
                     ("control_hosts", "--control"), ("dnsbl_zones", "--dnsbl-zone"), ("config_dirs", "--config-dir")):
        for v in o.get(key, []):
            args += [opt, v]
    for key, opt in (("helo", "--helo"), ("rcpt", "--rcpt"), ("mail_from", "--mail-from"), ("sysroot", "--sysroot")):
        if key in o:
            args += [opt, o[key]]
    if o.get("allow_reserved"):
        args.append("--allow-reserved")
    if o.get("local"):
        args.append("--local")
    for key in ("only", "skip"):
        if key in rec:
            args += ["--" + key, rec[key]]
    return args


def site_dirs(path, repo):
    """Directories above a test holding *.lua: its site rules (as rules test loads them)."""
    out, d = [], os.path.dirname(os.path.abspath(path))
    while d.startswith(os.path.abspath(repo)) and d != os.path.abspath(repo):
        if glob.glob(os.path.join(d, "*.lua")):
            out += ["--rules-dir", d]
        d = os.path.dirname(d)
    return out


def cmd_replay(mx, repo):
    tmp = mkdtemp()
    recs = repo_files(repo, "recording.json")
    report(len(recs) >= 10, "%d committed recordings to replay" % len(recs))
    for r in recs:
        rel = os.path.relpath(r, repo)
        rec = json.load(open(r))
        target = rec["checks"][0]["target"]
        args = ["--no-config", "--replay", r] + recording_args(rec) + site_dirs(r, repo)
        out = os.path.join(tmp, "rerecord.json")
        what = "check --replay %s --json" % rel
        p = run([mx, "check", "--json", "--record", out] + args + [target], what)
        if p:
            doc = validate_text("check", p.stdout, what)
            check_exit(doc, p, what)
            validate_text("recording", open(out).read(), "--record of " + what)
    # batch, every format, answered from a recording (no network): its target
    # and two names not in it (answered "not in the recording")
    r = os.path.join(repo, "tests", "rules", "shipped", "healthy", "recording.json")
    rec = json.load(open(r))
    names = [rec["checks"][0]["target"], "notrecorded.example", "user@other.example"]
    lst = os.path.join(tmp, "list.txt")
    with open(lst, "w") as f:
        f.write("".join(n + "\n" for n in names))
    base = [mx, "batch", "--no-config", "--no-progress", "-q", "--replay", r] + recording_args(rec)
    p = run(base + ["--format", "jsonl", lst], "batch --format jsonl")
    docs = validate_jsonl(p.stdout, "batch --replay --format jsonl", want_lines=3) if p else []
    report(sorted(d.get("index") for d in docs) == [0, 1, 2], "batch jsonl: indexes 0, 1, 2")
    p = run(base + ["--json", lst], "batch --json")
    if p:
        validate_jsonl(p.stdout, "batch --replay --json", want_lines=3)
    p = run(base + ["--format", "csv", lst], "batch --format csv")
    if p:
        validate_csv(p.stdout, "batch --replay --format csv", by_domain={d["target"]["input"]: d for d in docs})
    p = run(base + ["--format", "summary", lst], "batch --format summary")
    if p:
        validate_summary(p.stdout, "batch --replay --format summary")
    prom = os.path.join(tmp, "mxdiag.prom")
    p = run(base + ["--format", "prometheus", "-o", prom, lst], "batch --format prometheus")
    if p:
        validate_prometheus(open(prom).read(), "batch --replay --format prometheus -o", domains=names)
    # rules list / show
    p = run([mx, "rules", "list", "--json"], "rules list --json", exits=(0,))
    if p:
        validate_text("rules", p.stdout, "rules list --json")
    p = run([mx, "rules", "list", "--json", "--rules-dir", os.path.join(repo, "contrib", "rules")],
            "rules list --json (with site rules)", exits=(0,))
    if p:
        validate_text("rules", p.stdout, "rules list --json --rules-dir contrib/rules")
    p = run([mx, "rules", "show", "mx"], "rules show mx", exits=(0,))
    if p:
        validate_text("rules#/$defs/rule", p.stdout, "rules show mx")


def cmd_strict(mx, repo):
    """The schemas are strict: real documents, each changed in one way an
    output could go wrong (an added key, a dropped one, a wrong type or enum
    value, inconsistent fields), must each be refused. A schema loosened by
    mistake (additionalProperties dropped, an enum widened) fails here."""
    import copy
    rec_path = os.path.join(repo, "tests", "rules", "shipped", "healthy", "recording.json")
    rec = json.load(open(rec_path))
    p = run([mx, "check", "--no-config", "--json", "--replay", rec_path] + recording_args(rec) + [rec["checks"][0]["target"]],
            "check --replay")
    logs = sorted(glob.glob(os.path.join(repo, "tests", "data", "logs", "*.log")))
    q = run([mx, "logs", "--no-config", "--json", "--utc", "--probe", "1", "--replay", rec_path] + logs, "logs --probe")
    r = run([mx, "rules", "list", "--json"], "rules list", exits=(0,))
    if not (p and q and r):
        return
    docs = {"check": json.loads(p.stdout), "logs": json.loads(q.stdout), "recording": rec,
            "rules-test-expect": json.load(open(os.path.join(os.path.dirname(rec_path), "expect.json"))),
            "rules": json.loads(r.stdout)}
    docs["batch-line"] = dict(docs["check"], index=0)
    for name, d in docs.items():
        validate(name, d, "unchanged " + name + " document")

    def f0(d):
        return d["findings"][0]

    def call(d, name):
        return next(c for c in d["calls"] if c["call"] == name and c["result"].get("answers", [1]))

    def cause(d):
        return next(f for f in d["findings"] if f["code"].startswith("logs.cause_"))

    mutations = [
        ("check", "an added top-level key", lambda d: d.update(extra=1)),
        ("check", "`index` outside batch", lambda d: d.update(index=3)),
        ("check", "no `rules`", lambda d: d.pop("rules")),
        ("check", "schema mxdiag.check/2", lambda d: d.update(schema="mxdiag.check/2")),
        ("check", "status `warning`", lambda d: d.update(status="warning")),
        ("check", "exit_code not the status's", lambda d: d.update(exit_code=2)),
        ("check", "status not the worst finding's", lambda d: d.update(status="warn", exit_code=1)),
        ("check", "duration_ms a float", lambda d: d.update(duration_ms=1.5)),
        ("check", "target: an added key", lambda d: d["target"].update(zone="x")),
        ("check", "target: host on a domain target", lambda d: d["target"].update(host="mx.example")),
        ("check", "target: domain null on a domain target", lambda d: d["target"].update(domain=None)),
        ("check", "target: kind `mx`", lambda d: d["target"].update(kind="mx")),
        ("check", "target: port 0", lambda d: d["target"].update(port=0)),
        ("check", "finding: an added key", lambda d: f0(d).update(detail="x")),
        ("check", "finding: no advice", lambda d: f0(d).pop("advice")),
        ("check", "finding: severity `warning`", lambda d: f0(d).update(severity="warning")),
        ("check", "finding: code without a family", lambda d: f0(d).update(code="refused")),
        ("check", "finding: code in upper case", lambda d: f0(d).update(code="TCP.refused")),
        ("check", "finding: code ending in a dot", lambda d: f0(d).update(code="tcp.")),
        ("check", "finding: rule id with a capital", lambda d: f0(d).update(rule="Mx")),
        ("check", "finding: evidence a list", lambda d: f0(d).update(evidence=[1])),
        ("check", "rule.error finding with severity crit", lambda d: f0(d).update(code="rule.error", severity="crit")),
        ("check", "rule.error evidence without file", lambda d: f0(d).update(code="rule.error", severity="unknown",
                                                                              evidence={"error": "x"})),
        ("check", "rules: status `pending`", lambda d: d["rules"][0].update(status="pending", reason="x")),
        ("check", "rules: a skipped rule without reason", lambda d: d["rules"][0].update(status="skipped")),
        ("check", "rules: reason on a done rule", lambda d: d["rules"][0].update(status="done", reason="x")),
        ("batch-line", "no index", lambda d: d.pop("index")),
        ("batch-line", "index -1", lambda d: d.update(index=-1)),
        ("batch-line", "an added key", lambda d: d.update(line=1)),
        ("logs", "an added top-level key", lambda d: d.update(extra=1)),
        ("logs", "no unparsed", lambda d: d.pop("unparsed")),
        ("logs", "exit_code 130 without interrupted", lambda d: d.update(exit_code=130)),
        ("logs", "interrupted without exit 130/143", lambda d: d.update(interrupted={
            "signal": "SIGINT", "read_complete": True, "file": None, "lines": 0, "byte": 0, "gzip": False,
            "not_read": []})),
        ("logs", "files: an added key", lambda d: d["files"][0].update(mtime=1)),
        ("logs", "files: interrupted false", lambda d: d["files"][0].update(interrupted=False)),
        ("logs", "unparsed reason not a garbled one", lambda d: d["unparsed"]["reasons"].update(inbound=1)),
        ("logs", "scope not first", lambda d: d["findings"].reverse()),
        ("logs", "finding rule not a rule id", lambda d: f0(d).update(rule="Mx Rule")),
        ("logs", "finding severity fatal", lambda d: f0(d).update(severity="fatal")),
        # a site's catalog may add causes (logs.cause_provider_throttled): a well-formed name passes,
        # anything else does not
        ("logs", "code logs.cause_Bogus-1 (not a cause name)", lambda d: cause(d).update(code="logs.cause_Bogus-1")),
        ("logs", "code logs.cause_ (no cause)", lambda d: cause(d).update(code="logs.cause_")),
        ("logs", "a cause finding whose evidence names another cause",
         lambda d: cause(d)["evidence"].update(cause="other" if cause(d)["evidence"]["cause"] != "other" else "refused")),
        ("logs", "status not the worst finding's", lambda d: d.update(status="warn", exit_code=1)),
        ("logs", "scope: judgement `theirs`", lambda d: f0(d)["evidence"].update(judgement="theirs")),
        ("logs", "scope: an added evidence key", lambda d: f0(d)["evidence"].update(note="x")),
        ("logs", "scope: since not UTC", lambda d: f0(d)["evidence"].update(since="2026-03-01 10:42")),
        ("logs", "scope: 6 top failing domains", lambda d: f0(d)["evidence"].update(
            top_failing_domains=[{"domain": "a", "failures": 1, "successes": 0}] * 6)),
        ("logs", "cause: by_status key `delivered`", lambda d: cause(d)["evidence"]["by_status"].update(delivered=1)),
        ("logs", "cause: top_domains entry with an added key", lambda d: cause(d)["evidence"]["top_domains"][0].update(x=1)),
        ("logs", "cause: no cause", lambda d: cause(d)["evidence"].pop("cause")),
        ("logs", "probes: a check without rules", lambda d: d["probes"][0].pop("rules")),
        ("logs", "probed_domains: dominant_cause `none`", lambda d: d["probed_domains"][0].update(dominant_cause="none")),
        ("logs", "probes without probed_domains", lambda d: d.pop("probed_domains")),
        ("recording", "an added top-level key", lambda d: d.update(version=2)),
        ("recording", "no checks", lambda d: d.pop("checks")),
        ("recording", "options: an added key", lambda d: d["options"].update(verbose=True)),
        ("recording", "options: no timeout", lambda d: d["options"].pop("timeout")),
        ("recording", "checks: started not UTC", lambda d: d["checks"][0].update(started="yesterday")),
        ("recording", "calls: unknown primitive", lambda d: d["calls"][0].update(call="net.ping")),
        ("recording", "calls: an added key", lambda d: d["calls"][0].update(ms=1)),
        ("recording", "calls: dns.query without type", lambda d: next(c for c in d["calls"] if c["call"] == "dns.query")["args"].pop("type")),
        ("recording", "calls: net.connect with a port string", lambda d: next(c for c in d["calls"] if c["call"] == "net.connect")["args"].update(port="25")),
        ("recording", "calls: result a string", lambda d: d["calls"][0].update(result="ok")),
        ("recording", "dns.query result: status `ok`", lambda d: call(d, "dns.query")["result"].update(status="ok")),
        ("recording", "dns.query result: an added key", lambda d: call(d, "dns.query")["result"].update(cached=True)),
        ("recording", "dns.query result: no server", lambda d: call(d, "dns.query")["result"].pop("server")),
        ("recording", "dns.query answer: ttl a string", lambda d: call(d, "dns.query")["result"]["answers"][0].update(ttl="30")),
        ("recording", "net.connect result: verdict `closed`", lambda d: call(d, "net.connect")["result"].update(verdict="closed")),
        ("recording", "net.connect result: connected with an errno", lambda d: call(d, "net.connect")["result"].update(errno=111)),
        ("recording", "net.connect result: refused without errno", lambda d: call(d, "net.connect")["result"].update(verdict="refused")),
        ("recording", "net.read_reply result: an added key", lambda d: call(d, "net.read_reply")["result"].update(raw="x")),
        ("recording", "net.read_reply result: ok without code", lambda d: call(d, "net.read_reply")["result"].pop("code")),
        ("recording", "net.read_reply result: a reply on a timeout", lambda d: call(d, "net.read_reply")["result"].update(
            status="timeout", error="no answer")),
        ("recording", "net.read_reply result: status `eof`", lambda d: call(d, "net.read_reply")["result"].update(status="eof")),
        ("recording", "net.send result: ok without bytes", lambda d: call(d, "net.send")["result"].pop("bytes")),
        ("recording", "net.send result: a failure without error", lambda d: call(d, "net.send")["result"].update(status="closed")),
        ("recording", "net.starttls result: an added key", lambda d: call(d, "net.starttls")["result"].update(ocsp=True)),
        ("recording", "net.starttls result: a certificate without subject", lambda d: call(d, "net.starttls")["result"].pop("subject")),
        ("recording", "net.starttls result: days_left a string", lambda d: call(d, "net.starttls")["result"].update(days_left="3")),
        ("recording", "net.hostname result: an added key", lambda d: call(d, "net.hostname")["result"].update(fqdn="x")),
        ("recording", "net.hostname with arguments", lambda d: call(d, "net.hostname")["args"].update(name="x")),
        ("recording", "a replay miss with another error text", lambda d: call(d, "net.connect").update(
            result={"verdict": "error", "status": "error", "error": "missing"})),
        ("rules-test-expect", "a misspelt key", lambda d: d.update(rule=["mx"])),
        ("rules-test-expect", "no findings", lambda d: d.pop("findings")),
        ("rules-test-expect", "a finding without severity", lambda d: f0(d).pop("severity")),
        ("rules-test-expect", "a finding with evidence not an object", lambda d: f0(d).update(evidence="x")),
        ("rules-test-expect", "a skipped entry without rule", lambda d: d.update(skipped=[{"reason": "x"}])),
        ("rules-test-expect", "status `fine`", lambda d: d.update(status="fine")),
        ("rules", "a rule with an added key", lambda d: d[0].update(order=1)),
        ("rules", "codes mapping to `error`", lambda d: d[0]["codes"].update({"mx.ok": "error"})),
        ("rules", "a non-empty codes list", lambda d: d[0].update(codes=["mx.ok"])),
    ]
    for schema, what, change in mutations:
        d = copy.deepcopy(docs[schema])
        change(d)
        checked[0] += 1
        report(bool(problems(schema, d)), "%s refuses: %s" % (schema, what))


# ------------------------------------------------------------ lab

def lab_ready(lab):
    chk = subprocess.run([lab, "check"], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.stdout.write(chk.stdout or chk.stderr)
        sys.exit(chk.returncode)
    if not os.path.exists("/run/netns/mxlab"):
        print("FAIL: the lab is not up (did the lab.up fixture fail? run: %s up)" % lab)
        sys.exit(1)


def scenario_domains(repo):
    text = open(os.path.join(repo, "tests", "lab", "SCENARIOS.md")).read()
    table = text.split("<!-- table-start -->", 1)[1].split("<!-- table-end -->", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| ([a-z0-9.-]+\.test) \|", table, re.M)]


def lab_cases(repo):
    out = []
    for line in open(os.path.join(repo, "tests", "lab", "cases.txt")):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = [x.strip() for x in line.split("|")]
        if len(f) != 5 or f[4].startswith("@out25"):
            continue  # @out25 cases block all of tcp/25: not while other tests run
        args = f[4].split()
        if args[:1] == ["@warm"]:
            args = args[1:]  # the warm-up run only uses a receiver's budget; the check itself is validated
        out.append((f[0], args))
    return out


def cmd_lab_check(mx, lab, repo):
    lab_ready(lab)
    tmp = mkdtemp()
    os.chmod(tmp, 0o755)
    jobs = [("scenario " + d, ["check", "--allow-reserved", "--timeout", "3", d]) for d in scenario_domains(repo)]
    report(len(jobs) >= 25, "%d scenario domains in SCENARIOS.md" % len(jobs))
    cases = lab_cases(repo)
    report(len(cases) >= 40, "%d cases in cases.txt" % len(cases))
    for name, args in cases:
        if args[:1] == ["check"] and "--allow-reserved" not in args:
            args = ["check", "--allow-reserved"] + args[1:]
        jobs.append(("case " + name, args))

    def one(job):
        name, args = job
        rec = os.path.join(tmp, re.sub(r"[^a-z0-9_.-]", "_", name) + ".rec.json")
        p = subprocess.run([lab, "exec", mx] + args + ["--no-config", "--json", "--record", rec], capture_output=True, timeout=240,
                           stdin=subprocess.DEVNULL, env=ENV)
        return name, args, p, rec

    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(one, jobs))
    for name, args, p, rec in results:
        p.stdout = p.stdout.decode("utf-8", "replace")
        p.stderr = p.stderr.decode("utf-8", "replace")
        what = "%s: %s --json" % (name, " ".join(args))
        if p.returncode not in (0, 1, 2, 3):
            report(False, "%s: exit %d\n%s" % (what, p.returncode, p.stderr[-1500:]))
            continue
        doc = validate_text("check", p.stdout, what)
        check_exit(doc, p, what)
        if os.path.exists(rec):
            validate_text("recording", open(rec).read(), "--record of " + name)
        else:
            report(False, "%s: no recording written" % name)


def cmd_lab_batch(mx, lab):
    lab_ready(lab)
    tmp = mkdtemp()
    os.chmod(tmp, 0o755)
    doms = ["healthy.test", "refused.test", "nullmx.test", "nonexistent.test", "backup.test", "reject554.test",
            "badname.test", "user@healthy.test", "mx.healthy.test:25", "192.0.2.11"]
    lst = os.path.join(tmp, "list.yaml")
    with open(lst, "w") as f:
        f.write("defaults:\n  timeout: 2\n  allow_reserved: true\ndomains:\n")
        f.write("".join("  - %s\n" % d for d in doms))
        f.write("  - domain: srcblock.test\n    source_ips: [198.51.100.2]\n")
        f.write("  - domain: bad..entry\n")  # a bad entry: skipped, its index counts
    names = doms + ["srcblock.test"]
    base = [lab, "exec", mx, "batch", "--no-config", "--no-progress", "-q", "-j", "16"]
    exits = (0, 1, 2, 3)
    p = run(base + ["--format", "jsonl", lst], "lab batch jsonl", exits=exits)
    docs = validate_jsonl(p.stdout, "lab batch --format jsonl", want_lines=len(names)) if p else []
    report(sorted(d.get("index") for d in docs) == list(range(len(names))), "lab batch jsonl: indexes 0..%d" % (len(names) - 1))
    out = os.path.join(tmp, "out.jsonl")
    p = run(base + ["-o", out, lst], "lab batch -o", exits=exits)
    if p:
        validate_jsonl(open(out, newline="").read(), "lab batch -o FILE (default format)", want_lines=len(names))
    p = run(base + ["--format", "csv", lst], "lab batch csv", exits=exits)
    if p:
        validate_csv(p.stdout, "lab batch --format csv")
        rows = list(csv.reader(io.StringIO(p.stdout, newline="")))[1:]
        report(sorted(r[1] for r in rows) == sorted(names), "lab batch csv: one row per domain")
    # csv appended by --resume: no second header
    outc = os.path.join(tmp, "out.csv")
    with open(lst) as f:
        head = f.read().split("  - nullmx.test")[0]
    part = os.path.join(tmp, "part.yaml")
    with open(part, "w") as f:
        f.write(head)
    run(base + ["--format", "csv", "-o", outc, part], "lab batch csv part", exits=exits)
    p = run(base + ["--format", "csv", "-o", outc, "--resume", outc, lst], "lab batch csv resume", exits=exits)
    if p:
        validate_csv(open(outc, newline="").read(), "lab batch --format csv --resume (appended)")
    p = run(base + ["--format", "summary", lst], "lab batch summary", exits=exits)
    if p:
        validate_summary(p.stdout, "lab batch --format summary")
    prom = os.path.join(tmp, "mxdiag.prom")
    p = run(base + ["--format", "prometheus", "-o", prom, lst], "lab batch prometheus", exits=exits)
    if p:
        validate_prometheus(open(prom).read(), "lab batch --format prometheus -o", domains=names)
    p = run(base + ["--format", "prometheus", lst], "lab batch prometheus stdout", exits=exits)
    if p:
        validate_prometheus(p.stdout, "lab batch --format prometheus (stdout)", domains=names)


LAB_LOG = "/run/mxdiag-lab/log/postfix-tx.log"


def cmd_lab_logs(mx, lab):
    lab_ready(lab)
    since = str(int(time.time()) - 1)
    p = subprocess.run([lab, "send"], capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        report(False, "lab send: exit %d\n%s" % (p.returncode, p.stderr[-2000:]))
        return
    for args, what in ((["--since", since], "logs --json after lab send"),
                       ([], "logs --json on the whole lab log"),
                       (["--since", since, "--probe", "3", "--timeout", "2", "--allow-reserved"],
                        "logs --probe 3 --json after lab send")):
        p = run([lab, "exec", mx, "logs", "--no-config", "--json", "--utc"] + args + [LAB_LOG], what)
        if not p:
            continue
        doc = validate_text("logs", p.stdout, what)
        check_exit(doc, p, what)
        if "--probe" in args and isinstance(doc, dict):
            report(len(doc.get("probes", [])) == 3, "logs --probe 3: 3 probe documents (got %d)" % len(doc.get("probes", [])))
            report(all("rules" in x for x in doc.get("probes", [])), "logs --probe 3: every probe is a full check")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 3
    cmd, a = argv[1], argv[2:]
    need = {"doc": 2, "meta": 0, "files": 1, "logs": 2, "local": 2, "replay": 2, "strict": 2, "lab-check": 3, "lab-batch": 2,
            "lab-logs": 2}
    if cmd not in need or len(a) < need[cmd]:
        print(__doc__)
        return 3
    if cmd == "doc":
        rc = cmd_doc(a[0], a[1:])
        if rc:
            return rc
    elif cmd == "meta":
        cmd_meta()
    elif cmd == "files":
        cmd_files(a[0])
    elif cmd == "logs":
        cmd_logs(a[0], a[1])
    elif cmd == "local":
        cmd_local(a[0], a[1])
    elif cmd == "strict":
        cmd_strict(a[0], a[1])
    elif cmd == "replay":
        cmd_replay(a[0], a[1])
    elif cmd == "lab-check":
        cmd_lab_check(a[0], a[1], a[2])
    elif cmd == "lab-batch":
        cmd_lab_batch(a[0], a[1])
    elif cmd == "lab-logs":
        cmd_lab_logs(a[0], a[1])
    if checked[0] == 0 and not failures:
        print("FAIL: nothing was validated")
        return 1
    print("%d validated, %d failed" % (checked[0], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

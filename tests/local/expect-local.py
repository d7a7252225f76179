#!/usr/bin/env python3
"""Run mxdiag (local or check) and assert on its JSON findings.

usage: expect-local.py NAME [--exit N] [--has c1,c2] [--lacks c3]
                       [--evidence CODE:KEY=VALUE ...] [--wrap CMD...] -- MXDIAG ARGS...

--evidence CODE:KEY=VALUE: some finding with CODE has evidence[KEY] whose
text contains VALUE (KEY ".summary" or ".advice": the finding's own text; VALUE
"!TEXT": such findings exist and none contains TEXT). --wrap: a command prefix (e.g. `path-lab exec mxp-c`);
its exit 77 (skip) is passed through. Prints PASS/FAIL; exit 0/1/77.
"""
import json, subprocess, sys


def main():
    argv = sys.argv[1:]
    i = argv.index("--")
    opts, margs = argv[:i], argv[i + 1:]
    name = opts.pop(0)
    want_exit, has, lacks, evid, wrap = None, [], [], [], []
    k = 0
    while k < len(opts):
        o = opts[k]
        if o == "--exit": want_exit = int(opts[k + 1]); k += 2
        elif o == "--has": has += [c for c in opts[k + 1].split(",") if c and c != "-"]; k += 2
        elif o == "--lacks": lacks += [c for c in opts[k + 1].split(",") if c and c != "-"]; k += 2
        elif o == "--evidence": evid.append(opts[k + 1]); k += 2
        elif o == "--wrap": wrap = opts[k + 1].split(); k += 2
        else: print("expect-local: unknown option " + o); return 2
    cmd = wrap + margs + ["--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if wrap and p.returncode == 77:
        print("SKIP %s: %s" % (name, (p.stdout + p.stderr).strip()))
        return 77
    problems = []
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        print("FAIL %s: not JSON (%s)\n%s\n%s" % (name, e, p.stdout, p.stderr))
        return 1
    finds = doc.get("findings", [])
    codes = [f["code"] for f in finds]
    if want_exit is not None and p.returncode != want_exit:
        problems.append("exit %d, wanted %d" % (p.returncode, want_exit))
    for c in has:
        if c not in codes: problems.append("missing " + c)
    for c in lacks:
        if c in codes: problems.append("unexpected " + c)
    for e in evid:
        code, kv = e.split(":", 1)
        key, val = kv.split("=", 1)
        # ".summary" / ".advice": the finding's own text, not an evidence key
        def text(f):
            return f.get(key[1:], "") if key.startswith(".") else json.dumps(f.get("evidence", {}).get(key, ""))
        if val.startswith("!"):
            # "!TEXT": there is a finding with CODE, and none of them has TEXT in KEY
            mine = [f for f in finds if f["code"] == code]
            if not mine or any(val[1:] in text(f) for f in mine):
                problems.append("%s: wanted such a finding whose %s does not contain %r" % (code, key, val[1:]))
            continue
        ok = any(f["code"] == code and val in text(f) for f in finds)
        if not ok: problems.append("no %s finding with evidence %s containing %r" % (code, key, val))
    if problems:
        print("FAIL %s: %s\n  command: %s\n  codes: %s" % (name, "; ".join(problems), " ".join(cmd), codes))
        print(p.stdout[:6000]); print(p.stderr[:2000])
        return 1
    print("PASS %s (%s)" % (name, ", ".join(codes)))
    return 0


sys.exit(main())

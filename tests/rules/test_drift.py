#!/usr/bin/env python3
"""RULES.md cannot drift from the engine: every function a rule can call in an
engine module (read from the sandbox: `mxdiag rules api`), every method of an
engine type, and every finding code (declared in rules' `codes`, written as
`code = "..."` in rules/ and rules/lib/, emitted by the engine: rule.error,
logs.*) must be in RULES.md; and RULES.md must not list codes or functions
that no longer exist.

Documented means: a function as a `### mod.func` heading or a backticked
`mod.func(`…; a method as `### type:method` or a backticked `x:method`; a code
as a table row whose first cell is the code: | `code.name` | severity | meaning |."""
import json, os, re, subprocess, sys

mx, src = sys.argv[1], sys.argv[2]
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
def mxjson(*args):
    p = subprocess.run([mx, *args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit("mxdiag %s failed: %s" % (" ".join(args), p.stderr))
    return json.loads(p.stdout)

doc = open(os.path.join(src, "RULES.md"), encoding="utf-8").read()
api = mxjson("rules", "api")
rules = mxjson("rules", "list", "--json")

# --- functions
missing_fn, stale_fn = [], []
for mod, fns in sorted(api["modules"].items()):
    for fn in fns:
        pat = r"(^###\s+`?%s\.%s\b|`%s\.%s\b)" % (mod, fn, mod, fn)
        if not re.search(pat, doc, re.M):
            missing_fn.append("%s.%s" % (mod, fn))
for typ, methods in sorted(api["types"].items()):
    for m in methods:
        if m.startswith("__"):
            continue
        pat = r"(^###\s+`?%s:%s\b|`\w+:%s\b)" % (typ, m, m)
        if not re.search(pat, doc, re.M):
            missing_fn.append("%s:%s" % (typ, m))
for mod, fn in re.findall(r"^###\s+`?([a-z_]+)\.([a-z_0-9]+)", doc, re.M):
    if mod in api["modules"] and fn not in api["modules"][mod]:
        stale_fn.append("%s.%s" % (mod, fn))

# --- codes
code_re = r"[a-z][a-z0-9_]*\.[a-z0-9_.]*[a-z0-9_]"
used = {}
for r in rules:
    for c in r["codes"]:
        used.setdefault(c, "declared by rule %s" % r["id"])
for d in ("rules", "rules/lib"):
    for name in sorted(os.listdir(os.path.join(src, d))):
        if name.endswith(".lua"):
            text = open(os.path.join(src, d, name), encoding="utf-8").read()
            for c in re.findall(r'\bcode\s*=\s*"(%s)"' % code_re, text):
                used.setdefault(c, "written in %s/%s" % (d, name))
used.setdefault("rule.error", "emitted by the engine (bindings/rt_checks.c)")
# mxdiag logs: logs.scope, logs.unparsed, logs.cause_<cause> (engine/logparse.c)
logs_cli = os.path.join(src, "cli", "cmd_logs.c")
for c in re.findall(r'"(logs\.[a-z_]+)"', open(logs_cli).read()):
    used.setdefault(c, "emitted by mxdiag logs (cli/cmd_logs.c)")
    m = re.search(r"cause_names\[[^\]]*\]\s*=\s*\{([^}]*)\}", open(os.path.join(src, "engine", "logparse.c")).read())
    if m:
        for cause in re.findall(r'"([a-z_]+)"', m.group(1)):
            if cause != "none":
                used.setdefault("logs.cause_" + cause, "emitted by mxdiag logs (engine/logparse.c cause names)")

documented = set()
for line in doc.splitlines():
    m = re.match(r"^\|\s*`?(%s)`?\s*\|" % code_re, line)
    if m:
        documented.add(m.group(1))
missing_codes = sorted(c for c in used if c not in documented)
stale_codes = sorted(c for c in documented if c not in used)

# contrib examples document their codes in contrib/rules/README.md (site rules, not shipped)
contrib = os.path.join(src, "contrib", "rules")
missing_contrib = []
if os.path.isdir(contrib) and os.path.exists(os.path.join(contrib, "README.md")):
    cdoc = open(os.path.join(contrib, "README.md"), encoding="utf-8").read()
    for name in sorted(os.listdir(contrib)):
        if name.endswith(".lua"):
            text = open(os.path.join(contrib, name), encoding="utf-8").read()
            m = re.search(r"codes\s*=\s*\{(.*?)\n\s*\}", text, re.S)
            for c in re.findall(r'\["(%s)"\]' % code_re, m.group(1) if m else ""):
                if not re.search(r"^\|\s*`?%s`?\s*\|" % re.escape(c), cdoc, re.M):
                    missing_contrib.append("%s (contrib/rules/%s)" % (c, name))

ok = True
def report(title, items):
    global ok
    if items:
        ok = False
        print("%s (%d):" % (title, len(items)))
        for i in items:
            print("  " + i)
report("functions not documented in RULES.md", missing_fn)
report("functions documented in RULES.md that the engine does not have", stale_fn)
report("finding codes not documented in RULES.md", ["%s  [%s]" % (c, used[c]) for c in missing_codes])
report("finding codes in RULES.md that nothing emits", stale_codes)
report("contrib finding codes not documented in contrib/rules/README.md", missing_contrib)
# facts: RULES.md's section from docs/facts.json, and the facts of the shipped
# rule tests' recordings against it (tests/rules/facts_doc.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facts_doc
report("facts not as docs/facts.json documents them", facts_doc.check(src, mx))
nfn = sum(len(v) for v in api["modules"].values()) + sum(len(v) for v in api["types"].values())
print("checked %d functions/methods and %d finding codes" % (nfn, len(used)))
sys.exit(0 if ok else 1)

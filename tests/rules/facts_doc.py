#!/usr/bin/env python3
"""The shipped facts' documentation has one source, docs/facts.json. This
renders it into RULES.md (between the facts:begin/facts:end markers) and
checks it:
  facts_doc.py SRC --write        rewrite RULES.md's section from docs/facts.json
  facts_doc.py SRC [MXDIAG]       check: RULES.md's section is up to date; with
                                  MXDIAG also that every fact a loaded rule
                                  provides is documented (and none is stale) and
                                  that the facts of the shipped rule tests'
                                  recordings (`mxdiag rules facts`) have only
                                  documented fields of the documented types.
The drift test (test_drift.py) runs the check."""
import glob, json, os, subprocess, sys

BEGIN = "<!-- facts:begin: generated from docs/facts.json by tests/rules/facts_doc.py --write; do not edit -->"
END = "<!-- facts:end -->"


def load(src):
    return json.load(open(os.path.join(src, "docs", "facts.json"), encoding="utf-8"))


def render(doc):
    out = []
    for f in doc["facts"]:
        if f["shape"] == "string":
            out.append("#### `%s` (string; rule `%s`)" % (f["name"], f["publisher"]))
            out.append("")
            out.append(f["description"])
            out.append("")
            out.append("Values: " + ", ".join("`%s`" % v for v in f["values"]) + ".")
            out.append("")
            continue
        out.append("#### `%s` (%s of maps; rule `%s`)" % (f["name"], f["shape"] if f["shape"] == "list" else "map",
                                                          f["publisher"]) if f["shape"] == "list" else
                   "#### `%s` (map; rule `%s`)" % (f["name"], f["publisher"]))
        out.append("")
        out.append(f["description"])
        out.append("")
        out.append("| field | type | example | meaning |")
        out.append("|---|---|---|---|")
        for fl in f["fields"]:
            typ = fl["type"] + ("?" if fl.get("optional") else "")
            ex = json.dumps(fl["example"], ensure_ascii=False).replace("|", "\\|")
            out.append("| `%s` | %s | `%s` | %s |" % (fl["name"], typ, ex, fl["description"].replace("|", "\\|")))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def section(text):
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        return None, a, b
    return text[a + len(BEGIN):b].strip("\n") + "\n", a, b


def jtype(v):
    if isinstance(v, bool): return "boolean"
    if isinstance(v, int): return "integer"
    if isinstance(v, float): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "list"
    if isinstance(v, dict): return "map"
    return "null"


def type_ok(doc_type, v):
    t = jtype(v)
    return t == doc_type or (doc_type == "number" and t == "integer") or (doc_type == "list" and v == {}) \
        or (doc_type == "map" and v == [])  # an empty Lua table is written as either


def check_observed(doc, name, value, problems, where):
    byname = {f["name"]: f for f in doc["facts"]}
    f = byname.get(name)
    if not f:
        problems.append("%s: fact %s is not in docs/facts.json" % (where, name))
        return
    if f["shape"] == "string":
        if not isinstance(value, str) or value not in f["values"]:
            problems.append("%s: %s is %r, documented as one of %s" % (where, name, value, ", ".join(f["values"])))
        return
    items = value if f["shape"] == "list" else (list(value.values()) if name == "dnsbl.trust" else [value])
    if f["shape"] == "list" and not isinstance(value, list):
        problems.append("%s: %s is a %s, documented as a list" % (where, name, jtype(value)))
        return
    fields = {fl["name"]: fl for fl in f["fields"]}
    for it in items:
        if not isinstance(it, dict):
            problems.append("%s: %s holds a %s, documented as maps" % (where, name, jtype(it)))
            continue
        for k, v in it.items():
            fl = fields.get(k)
            if not fl:
                problems.append("%s: %s field %s is not documented" % (where, name, k))
            elif not type_ok(fl["type"], v):
                problems.append("%s: %s field %s is a %s, documented as %s" % (where, name, k, jtype(v), fl["type"]))
            elif k == "certificate" and name == "smtp.sessions":
                check_observed(doc, "smtp.sessions[].certificate", v, problems, where)
        for k, fl in fields.items():
            if not fl.get("optional") and k not in it:
                problems.append("%s: %s field %s is documented as always there but is missing" % (where, name, k))


def check(src, mx=None):
    doc = load(src)
    problems = []
    text = open(os.path.join(src, "RULES.md"), encoding="utf-8").read()
    have, _, _ = section(text)
    if have is None:
        problems.append("RULES.md has no facts section (%s ... %s)" % (BEGIN, END))
    elif have != render(doc):
        problems.append("RULES.md's facts section differs from docs/facts.json: run tests/rules/facts_doc.py %s --write" % src)
    if mx:
        env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
        rules = json.loads(subprocess.run([mx, "rules", "list", "--json"], capture_output=True, text=True, env=env,
                                          check=True).stdout)
        provided = {p: r["id"] for r in rules for p in r["provides"]}
        documented = {f["name"] for f in doc["facts"] if "[" not in f["name"]}
        for p in sorted(set(provided) - documented):
            problems.append("fact %s (rule %s) is not in docs/facts.json" % (p, provided[p]))
        for p in sorted(documented - set(provided)):
            problems.append("docs/facts.json documents %s, which no rule provides" % p)
        for rec in sorted(glob.glob(os.path.join(src, "tests", "rules", "shipped", "*", "recording.json"))):
            p = subprocess.run([mx, "rules", "facts", rec], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                problems.append("mxdiag rules facts %s failed: %s" % (rec, p.stderr.strip()))
                continue
            for name, value in json.loads(p.stdout)["facts"].items():
                check_observed(doc, name, value, problems, os.path.relpath(rec, src))
    return problems


if __name__ == "__main__":
    src = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--write":
        path = os.path.join(src, "RULES.md")
        text = open(path, encoding="utf-8").read()
        _, a, b = section(text)
        if a < 0:
            sys.exit("RULES.md has no markers %s / %s" % (BEGIN, END))
        text = text[:a + len(BEGIN)] + "\n" + render(load(src)) + text[b:]
        open(path, "w", encoding="utf-8").write(text)
        sys.exit(0)
    probs = check(src, sys.argv[2] if len(sys.argv) > 2 else None)
    for p in probs:
        print(p)
    sys.exit(1 if probs else 0)

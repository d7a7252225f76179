#!/usr/bin/env python3
"""What a root run reads and loads (issue 16, points 1, 7, 8), end to end.

usage: test_paths.py MXDIAG INSTALL_RULES_DIR FIXTURE_DIR

Runs as root (as the suite does); the non-root cases drop to nobody with
setpriv. Every case fails on the binary before the fix:
  - a batch list's defaults: rules_dir loads no code (FILE:LINE:COL error);
  - rule directories and files as root: mode 0777, owned by nobody, a
    symbolic link -> refused, naming the path and the problem; root-owned
    0755 -> loads; as nobody the same 0777 directory still loads;
  - the configuration file: a relative rules_dir is relative to the file;
    a configuration file others can write is refused;
  - MXDIAG_RULES_PATH / MXDIAG_CONFIG / MXDIAG_SHIPPED_RULES are ignored as
    root (one line on stderr) unless --allow-env; honoured for non-root;
    MXDIAG_LOG_THREADS is a tuning knob and is not reported;
  - a copy of the binary outside its build directory does not use the
    source tree's rules;
  - sys.read_file: secrets (passwd.client, exim.key, sasl_passwd) and planted
    links (to a shadow file, to /proc/self/environ, a linked directory) in a
    --sysroot fixture and under a --config-dir are never read.
"""
import json, os, shutil, subprocess, sys, tempfile

MX, INSTALL_RULES, FIXTURE = sys.argv[1], sys.argv[2], sys.argv[3]
if os.geteuid() != 0:
    print("SKIP: the ownership checks are those of a root run (the suite runs as root)")
    sys.exit(77)
TMP = tempfile.mkdtemp(prefix="mxpaths-")
os.chmod(TMP, 0o755)  # the non-root cases read below it
# The clone may live where nobody cannot enter (root's home is 0700): the
# non-root cases run a copy of the binary and of the shipped rules from TMP
# (a non-root run honours MXDIAG_SHIPPED_RULES).
NOBODY_MX = os.path.join(TMP, "mxdiag")
NOBODY_RULES = os.path.join(TMP, "shipped-rules")
shutil.copy2(MX, NOBODY_MX)
shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "rules"), NOBODY_RULES)
for root, dirs, files in os.walk(NOBODY_RULES):
    for n in dirs + files:
        os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
os.chmod(NOBODY_RULES, 0o755)
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def run(args, env=None, user=None, cwd=None):
    e = dict(os.environ, NO_COLOR="1")
    for k in list(e):
        if k.startswith("MXDIAG_"):
            del e[k]
    if user:
        e["MXDIAG_SHIPPED_RULES"] = NOBODY_RULES
        args = [NOBODY_MX if a == MX else a for a in args]
    e.update(env or {})
    cmd = ([ "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if user else []) + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=e, cwd=cwd or TMP,
                          stdin=subprocess.DEVNULL)


def rule_dir(name, rid, mode=0o755, code="site.loaded", body=None):
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "50-%s.lua" % rid), "w") as f:
        f.write(body or (
            'return { id = "%s", description = "test rule", categories = {"site"},\n'
            '  codes = { ["%s"] = "info" },\n'
            '  run = function(target, report) report:finding{code = "%s", summary = "loaded"} end }\n'
            % (rid, code, code)))
    os.chmod(d, mode)
    return d


def codes_of(p):
    try:
        return [f["code"] for f in json.loads(p.stdout).get("findings", [])]
    except ValueError:
        return []


def check_rule(args, rid, **kw):
    # the host's own /etc/mxdiag/mxdiag.yaml stays out unless a case is about configuration files
    own = [] if "--config" in args or "MXDIAG_CONFIG" in kw.get("env", {}) else ["--no-config"]
    return run([MX, "check", "--json", "--timeout", "1", "--only", rid] + own + args + ["127.0.0.1:9"], **kw)


# ---- 1. a batch list carries no rule locations
evil = rule_dir("evil", "site-evil", code="site.evil")
lst = os.path.join(TMP, "list.yaml")
with open(lst, "w") as f:
    f.write("defaults:\n  timeout: 1\n  rules_dir: [%s]\ndomains:\n  - 127.0.0.1:9\n" % evil)
p = run([MX, "batch", "-q", "--no-config", "--only", "site-evil", lst])
if p.returncode == 3 and "list.yaml:3:3: defaults: 'rules_dir' cannot be set in a batch list" in p.stderr \
        and "--rules-dir" in p.stderr and "site.evil" not in p.stdout:
    ok("batch list defaults: rules_dir refused with FILE:LINE:COL")
else:
    fail("batch list rules_dir: exit %d, stdout %r, stderr %r" % (p.returncode, p.stdout[:300], p.stderr))
good = rule_dir("good", "site-good")
with open(lst, "w") as f:
    f.write("domains:\n  - domain: 127.0.0.1:9\n    rules_dir: %s\n" % evil)
p = run([MX, "batch", "-q", "--no-config", "--timeout", "1", "--rules-dir", good, "--only", "site-good,site-evil", lst])
if "list.yaml:3:5: 'rules_dir' cannot be set in a batch list" in p.stderr and "site.evil" not in p.stdout:
    ok("batch list entry rules_dir refused")
else:
    fail("batch entry rules_dir: exit %d, stderr %r" % (p.returncode, p.stderr))

# ---- 2. ownership and mode of rule directories and files as root
p = check_rule(["--rules-dir", good], "site-good")
if p.returncode in (0, 1, 2) and "site.loaded" in codes_of(p):
    ok("root-owned 0755 rules directory loads")
else:
    fail("root-owned rules dir: exit %d, %r" % (p.returncode, p.stderr))

wide = rule_dir("wide", "site-wide", mode=0o777)
p = check_rule(["--rules-dir", wide], "site-wide")
if p.returncode == 3 and "%s is writable by everyone (mode 0777)" % wide in p.stderr and not codes_of(p):
    ok("mode 0777 rules directory refused")
else:
    fail("0777 rules dir: exit %d, %r" % (p.returncode, p.stderr))

p = run([MX, "rules", "list", "--rules-dir", wide], user=True)
if p.returncode == 0 and "site-wide" in p.stdout:
    ok("as nobody, the same 0777 directory still loads (a user's own rules)")
else:
    fail("nobody, 0777 dir: exit %d, %r" % (p.returncode, p.stderr))

gw = rule_dir("groupw", "site-gw", mode=0o775)
p = check_rule(["--rules-dir", gw], "site-gw")
if p.returncode == 3 and "writable by its group (mode 0775)" in p.stderr:
    ok("group-writable rules directory refused")
else:
    fail("0775 rules dir: exit %d, %r" % (p.returncode, p.stderr))

owned = rule_dir("owned", "site-owned")
f = os.path.join(owned, "50-site-owned.lua")
shutil.chown(f, user="nobody")
p = check_rule(["--rules-dir", owned], "site-owned")
if p.returncode == 3 and "%s is owned by nobody, not root" % f in p.stderr and not codes_of(p):
    ok("rule file owned by nobody refused")
else:
    fail("file owned by nobody: exit %d, %r" % (p.returncode, p.stderr))

wfile = rule_dir("wfile", "site-wfile")
os.chmod(os.path.join(wfile, "50-site-wfile.lua"), 0o666)
p = check_rule(["--rules-dir", wfile], "site-wfile")
if p.returncode == 3 and "50-site-wfile.lua is writable by everyone (mode 0666)" in p.stderr:
    ok("world-writable rule file refused")
else:
    fail("0666 rule file: exit %d, %r" % (p.returncode, p.stderr))

linked = rule_dir("linked", "site-linkbase")
os.symlink(os.path.join(evil, "50-site-evil.lua"), os.path.join(linked, "60-link.lua"))
p = check_rule(["--rules-dir", linked], "site-evil")
if p.returncode == 3 and "60-link.lua is a symbolic link" in p.stderr and "site.evil" not in codes_of(p):
    ok("symlinked rule file refused")
else:
    fail("symlinked rule file: exit %d, %r" % (p.returncode, p.stderr))

# a library through require() passes the same checks
libd = rule_dir("libuser", "site-lib", body=(
    'local helper = require("site_helper")\n'
    'return { id = "site-lib", description = "uses a library", categories = {"site"},\n'
    '  codes = { ["site.loaded"] = "info" },\n'
    '  run = function(target, report) report:finding{code = "site.loaded", summary = helper.word} end }\n'))
os.makedirs(os.path.join(libd, "lib"))
with open(os.path.join(libd, "lib", "site_helper.lua"), "w") as fh:
    fh.write('return { word = "from the library" }\n')
p = check_rule(["--rules-dir", libd], "site-lib")
if "site.loaded" in codes_of(p):
    ok("a root-owned library loads through require")
else:
    fail("root-owned library: exit %d, %r" % (p.returncode, p.stderr))
shutil.chown(os.path.join(libd, "lib", "site_helper.lua"), user="nobody")
p = check_rule(["--rules-dir", libd], "site-lib")
if "site.loaded" not in codes_of(p) and "site_helper.lua is owned by nobody" in p.stdout + p.stderr:
    ok("a library owned by nobody is refused")
else:
    fail("library owned by nobody: exit %d, %r %r" % (p.returncode, p.stdout[:600], p.stderr))

# ---- 3. the configuration file
cfgdir = os.path.join(TMP, "conf")
os.makedirs(cfgdir)
rule_dir(os.path.join("conf", "site"), "site-cfg")
cfg = os.path.join(cfgdir, "mxdiag.yaml")
with open(cfg, "w") as fh:
    fh.write("rules_dir: site\n")
p = check_rule(["--config", cfg], "site-cfg", cwd="/")
if "site.loaded" in codes_of(p):
    ok("a relative rules_dir of the configuration file is relative to the file")
else:
    fail("relative rules_dir in config: exit %d, %r" % (p.returncode, p.stderr))
os.chmod(cfg, 0o666)
p = check_rule(["--config", cfg], "site-cfg", cwd="/")
if p.returncode == 3 and "mxdiag.yaml is writable by everyone (mode 0666)" in p.stderr:
    ok("a configuration file others can write is refused")
else:
    fail("0666 config: exit %d, %r" % (p.returncode, p.stderr))
os.chmod(cfg, 0o644)

# ---- 4. the environment as root
p = run([MX, "rules", "list"], env={"MXDIAG_RULES_PATH": evil})
if p.returncode == 0 and "site-evil" not in p.stdout and \
        "running as root: ignoring MXDIAG_RULES_PATH from the environment" in p.stderr and "--allow-env" in p.stderr:
    ok("MXDIAG_RULES_PATH ignored as root, said once on stderr")
else:
    fail("MXDIAG_RULES_PATH as root: exit %d, %r" % (p.returncode, p.stderr))
p = run([MX, "rules", "list", "--allow-env"], env={"MXDIAG_RULES_PATH": evil})
if p.returncode == 0 and "site-evil" in p.stdout and "ignoring" not in p.stderr:
    ok("--allow-env: MXDIAG_RULES_PATH used")
else:
    fail("MXDIAG_RULES_PATH with --allow-env: exit %d, %r" % (p.returncode, p.stderr))
p = run([MX, "rules", "list", "--rules-dir", wide], env={"MXDIAG_RULES_PATH": evil}, user=True)
if p.returncode == 0 and "site-evil" in p.stdout and "ignoring" not in p.stderr:
    ok("non-root: MXDIAG_RULES_PATH used as before")
else:
    fail("MXDIAG_RULES_PATH as nobody: exit %d, %r" % (p.returncode, p.stderr))

envcfg = os.path.join(TMP, "env.yaml")
with open(envcfg, "w") as fh:
    fh.write("rules_dir: [%s]\n" % evil)
p = check_rule([], "site-evil", env={"MXDIAG_CONFIG": envcfg})
if p.returncode == 3 and "site.evil" not in codes_of(p) and "ignoring MXDIAG_CONFIG" in p.stderr:
    ok("MXDIAG_CONFIG ignored as root")
else:
    fail("MXDIAG_CONFIG as root: exit %d, %r" % (p.returncode, p.stderr))
p = check_rule(["--allow-env"], "site-evil", env={"MXDIAG_CONFIG": envcfg})
if "site.evil" in codes_of(p):
    ok("--allow-env: MXDIAG_CONFIG used")
else:
    fail("MXDIAG_CONFIG with --allow-env: exit %d, %r" % (p.returncode, p.stderr))

only = rule_dir("onlyshipped", "site-only")
p = run([MX, "rules", "list"], env={"MXDIAG_SHIPPED_RULES": only, "MXDIAG_LOG_THREADS": "1"})
ids = [l.split()[0] for l in p.stdout.splitlines() if l.strip()]
if p.returncode == 0 and "mx" in ids and "site-only" not in ids and "MXDIAG_SHIPPED_RULES" in p.stderr \
        and "MXDIAG_LOG_THREADS" not in p.stderr:
    ok("MXDIAG_SHIPPED_RULES ignored as root; MXDIAG_LOG_THREADS (tuning) is not reported")
else:
    fail("MXDIAG_SHIPPED_RULES as root: exit %d, ids %s, %r" % (p.returncode, ids, p.stderr))
p = run([MX, "--allow-env", "rules", "list"], env={"MXDIAG_SHIPPED_RULES": only})
ids = [l.split()[0] for l in p.stdout.splitlines() if l.strip()]
if p.returncode == 0 and ids == ["site-only"]:
    ok("--allow-env before the command: MXDIAG_SHIPPED_RULES used")
else:
    fail("MXDIAG_SHIPPED_RULES with --allow-env: exit %d, ids %s, %r" % (p.returncode, ids, p.stderr))

# ---- 5. an installed binary never falls back to the source tree
bindir = os.path.join(TMP, "bin")
os.makedirs(bindir)
copy = os.path.join(bindir, "mxdiag")
shutil.copy2(MX, copy)
p = run([copy, "rules", "list"])
if os.path.isdir(INSTALL_RULES):
    good_install = p.returncode == 0
else:
    good_install = p.returncode == 3 and ("the shipped rules are missing: %s" % INSTALL_RULES) in p.stderr
if good_install:
    ok("a copy outside the build directory uses %s, not the source tree" % INSTALL_RULES)
else:
    fail("binary outside the build dir: exit %d, stdout %r, stderr %r" % (p.returncode, p.stdout[:200], p.stderr))

# ---- 6. sys.read_file: secrets and planted links
READER = '''local PATHS = { %s }
return { id = "site-reader", description = "reads files", categories = {"site"},
  codes = { ["site.read"] = "info" },
  run = function(target, report)
    for _, path in ipairs(PATHS) do
      local ok, content, err, detail = pcall(sys.read_file, path)
      local what
      if not ok then what = "raised: " .. tostring(content)
      elseif content then what = "content: " .. content
      else what = "error: " .. tostring(err) .. ": " .. tostring(detail and detail.detail) end
      report:finding{code = "site.read", summary = path, evidence = {path = path, result = what}}
    end
  end }
'''


def read_results(paths, args):
    d = rule_dir("reader-%d" % len(paths), "site-reader",
                 body=READER % ", ".join('"%s"' % x for x in paths))
    p = run([MX, "local", "--json", "--no-config", "--only", "site-reader", "--rules-dir", d] + args)
    try:
        return {f["evidence"]["path"]: f["evidence"]["result"] for f in json.loads(p.stdout)["findings"]
                if f["code"] == "site.read"}, p
    except (ValueError, KeyError):
        return {}, p


want = {
    "/etc/mailname": "content: mail.example.test",
    "/etc/exim4/passwd.client": "raised:",
    "/etc/exim4/exim.key": "raised:",
    "/etc/postfix/sasl_passwd": "raised:",
    "/etc/postfix/main.cf": "error: denied: a symbolic link",
    "/etc/exim4/update-exim4.conf.conf": "error: denied: a symbolic link",
    "/etc/nftables.conf": "error: denied: a symbolic link",
    "/etc/csf/csf.conf": "error: denied: reached through a symbolic link",
}
res, p = read_results(list(want), ["--sysroot", FIXTURE])
for path, w in want.items():
    got = res.get(path, "")
    if not got.startswith(w) or "SECRET" in got or "PATH=" in got:
        fail("sys.read_file %s under --sysroot: %r (want %r...) [%s]" % (path, got, w, p.stderr.strip()[:300]))
    else:
        ok("sys.read_file %s: %s" % (path, got.strip()[:70]))

cdir = os.path.join(TMP, "cfgdir")
os.makedirs(os.path.join(cdir, "tls"))
hidden = os.path.join(TMP, "hidden")
os.makedirs(hidden)
with open(os.path.join(hidden, "data.conf"), "w") as fh:
    fh.write("SECRET-HIDDEN\n")
with open(os.path.join(cdir, "relay.conf"), "w") as fh:
    fh.write("relay = smarthost.example.test\n")
with open(os.path.join(cdir, "passwd.client"), "w") as fh:
    fh.write("SECRET-PASSWD\n")
with open(os.path.join(cdir, "tls", "exim.pem"), "w") as fh:
    fh.write("SECRET-PEM\n")
os.symlink("/proc/self/environ", os.path.join(cdir, "env.conf"))
os.symlink(hidden, os.path.join(cdir, "sub"))
want = {
    cdir + "/relay.conf": "content: relay = smarthost",
    cdir + "/passwd.client": "raised:",
    cdir + "/tls/exim.pem": "raised:",
    cdir + "/env.conf": "error: denied: a symbolic link",
    cdir + "/sub/data.conf": "error: denied: reached through a symbolic link",
}
res, p = read_results(list(want), ["--config-dir", cdir])
for path, w in want.items():
    got = res.get(path, "")
    if not got.startswith(w) or "SECRET" in got or "PATH=" in got:
        fail("sys.read_file %s under --config-dir: %r (want %r...) [%s]" % (path, got, w, p.stderr.strip()[:300]))
    else:
        ok("sys.read_file %s: %s" % (os.path.relpath(path, TMP), got.strip()[:70]))

shutil.rmtree(TMP, ignore_errors=True)
if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all path and environment checks passed")

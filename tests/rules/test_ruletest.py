#!/usr/bin/env python3
"""`rules test`: a passing test passes; a deliberately broken expectation
fails (exit 1) with a readable diff naming the expected and actual lines."""
import json, os, shutil, subprocess, sys, tempfile
mx, src = sys.argv[1], sys.argv[2]
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
tmp = tempfile.mkdtemp(prefix="mxdiag-ruletest-")
base = os.path.join(src, "tests", "rules", "shipped", "refused")
t = os.path.join(tmp, "refused")
shutil.copytree(base, t)
p = subprocess.run([mx, "rules", "test", t], capture_output=True, text=True, env=env)
assert p.returncode == 0 and "PASS" in p.stdout, p.stdout + p.stderr
exp = json.load(open(os.path.join(t, "expect.json")))
f = next(x for x in exp["findings"] if x["code"] == "tcp.refused")
f["code"], f["severity"] = "tcp.connected", "ok"
json.dump(exp, open(os.path.join(t, "expect.json"), "w"), indent=2)
p = subprocess.run([mx, "rules", "test", t], capture_output=True, text=True, env=env)
print(p.stdout)
assert p.returncode == 1, "a broken expectation must fail"
assert "FAIL" in p.stdout and "- tcp tcp.connected ok" in p.stdout and "+ tcp tcp.refused warn" in p.stdout, "no readable diff"
assert "0 of 1 rule test passed" in p.stdout
# *.lua lying in a directory anyone can write (like /tmp) above a test is nobody's rules: not loaded
ww = os.path.join(tmp, "anyone")
os.mkdir(ww)
os.chmod(ww, 0o1777)
with open(os.path.join(ww, "stray.lua"), "w") as fh:
    fh.write("this is not a rule (\n")
shutil.copytree(base, os.path.join(ww, "refused"))
p = subprocess.run([mx, "rules", "test", os.path.join(ww, "refused")], capture_output=True, text=True, env=env)
assert p.returncode == 0 and "PASS" in p.stdout, "stray.lua in a world-writable parent was loaded:\n" + p.stdout + p.stderr
# a missing recording is a failure, not a crash
os.remove(os.path.join(t, "recording.json"))
p = subprocess.run([mx, "rules", "test", t], capture_output=True, text=True, env=env)
assert p.returncode == 1 and "cannot open" in p.stdout, p.stdout
print("ok")

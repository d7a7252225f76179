#!/usr/bin/env python3
"""The fact `logs` (built by the engine straight into Lua, sealed as it is
built: bindings/rt_factsink.c) is read-only to the logs rules all the way
down (RULES.md "The sandbox and its limits"): every write refused however a
table is reached (the top, a list, a group, a nested object, an empty one,
table.insert/sort, rawset, setmetatable), rawget/next/rawlen see an empty
table, #, ipairs and pairs read the contents, and nothing changed after the
writes. The site rule in logs_fact_sealed/ tries them on a generated log.

usage: test_logs_fact_sealed.py MXDIAG SOURCE_DIR"""
import json
import os
import sys
import tempfile

MX, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "tests", "data", "logs"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_scenarios  # noqa: E402
from common import run  # noqa: E402

rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs_fact_sealed")
with tempfile.TemporaryDirectory(prefix="mxdiag-logsfact-") as tmp:
    log = os.path.join(tmp, "their_side.log")
    with open(log, "w") as f:
        f.write(gen_scenarios.SCENARIOS["their_side"]().text())
    p = run(MX, "logs", "--json", "--utc", "--now", "2024-03-02T00:00:00Z", "--rules-dir", rules, log, check_rc=(0, 1, 2))
doc = json.loads(p.stdout)
got = [f for f in doc["findings"] if f.get("rule") == "sbx-logs-sealed"]
if len(got) != 1 or got[0]["code"] != "sbx.logs_sealed":
    raise SystemExit("no finding of the site rule: %s" % json.dumps(got))
ev = got[0]["evidence"]
want = {
    # read through the seal: the groups as the log has them
    "len": 16, "events": 162, "group_keys": 24, "key": "broken.example",
    # every write refused as a read-only table
    "write_top": True, "write_list": True, "write_group": True, "write_nested": True, "write_empty": True,
    "insert": True, "sort": True, "rawset": True,
    "setmetatable": "cannot change a protected metatable", "getmetatable": False,
    # raw access sees an empty table
    "rawget": True, "next": True, "rawlen": 0,
    # and nothing changed
    "after": "12/16/true",
}
failures = ["%s: got %s, expected %s" % (k, json.dumps(ev.get(k)), json.dumps(want.get(k)))
            for k in sorted(set(want) | set(ev)) if ev.get(k) != want.get(k)]
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok: the fact logs is sealed all the way down (%d checks)" % len(want))

#!/usr/bin/env python3
"""Published facts are sealed (RULES.md "The sandbox and its limits", facts):
what other rules read is the value at report:publish, read-only all the way
down, with lists, #, ipairs, pairs, table.concat, shared tables and cycles as
the publisher built them; rawget/next/rawlen see an empty table (as through
the old proxies); the publisher's own table stays its own. A table with a
metatable of its own (methods) is read through a proxy, live. No network:
the rules in facts_sealed/ run alone (--only) against a closed loopback port."""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, closed_port

mx = sys.argv[1]
rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "facts_sealed")
target = "127.0.0.1:%d" % closed_port()

def findings(only):
    p = run(mx, "check", target, "--json", "--timeout", "2", "--rules-dir", rules, "--only", only, check_rc=(0, 1, 2, 3))
    doc = json.loads(p.stdout)
    for r in doc["rules"]:
        if r["id"] in only.split(",") and r["status"] != "done":
            raise SystemExit("rule %s: %s\n%s" % (r["id"], r["status"], p.stdout))
    return {f["rule"]: f["evidence"] for f in doc["findings"]}

failures = []
def expect(what, got, want):
    if got != want:
        failures.append("%s: got %s, expected %s" % (what, json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)))

both = findings("sbx-pub,sbx-read")
read = both.get("sbx-read", {})
want = {
    # the value at publish, not the publisher's later changes (which the old
    # live proxies showed: "changed", 99, "present", x = 2)
    "name": "a", "list1": 1, "added": "absent", "x": 1, "deep": "bottom",
    "len": 3, "ipairs": "1=1,2=2,3=3", "concat": "1+2+3", "sorted_copy": "3,2,1",
    "keys": "again,empty,list,long,name,nested,obj,self",
    # longer than the sealing's stack run: every pair, shared tables, a table key
    "long": "len=70 pairs=113 sum=2485 shared=true tkey=true back=true",
    "cycle": True, "shared": True, "state_is_view": True,
    "rawget": True, "next": True, "rawlen": 0, "getmetatable": False, "type": "table",
    # every write refused as a read-only table, however it is reached
    "write": True, "write_nested": True, "write_cycle": True, "write_obj": True,
    "insert": True, "sort": True, "rawset": True, "iter_state": True,
    "setmetatable": "cannot change a protected metatable",
    # a table with methods of its own: read through a proxy, live
    "obj_get": 8,
    # the JSON conversion (evidence) reads sealed contents; __json kept
    "empty": {}, "nested": {"deep": {"y": {"z": "bottom"}}, "x": 1}, "list": [1, 2, 3],
}
for k in sorted(set(want) | set(read)):
    expect("reader: " + k, read.get(k), want.get(k))
expect("publisher, with a reader", both.get("sbx-pub"), {"own_is_mine": False, "own_name": "a"})
# alone, nobody else can read the fact: it is kept as it is (not copied)
alone = findings("sbx-pub")
expect("publisher alone", alone.get("sbx-pub"), {"own_is_mine": True, "own_name": "changed"})

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

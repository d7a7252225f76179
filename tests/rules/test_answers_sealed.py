#!/usr/bin/env python3
"""DNS answers are read-only and shared (RULES.md, dns): dns.query returns a
sealed table (a write of any kind raises "attempt to modify a read-only
table"; #, ipairs, pairs and the JSON conversion read it), and the same
question asked again in the run returns the very same table (rawequal), from
the replay of a recording and, live, from the run's cache (a DNS responder on
loopback written here: never the machine's resolver). nil, status, detail
stays the caller's own."""
import json, os, socket, struct, sys, tempfile, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run

mx = sys.argv[1]
rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "answers_sealed")
tmp = tempfile.mkdtemp(prefix="mxdiag-answers-")
NAME = "shared.test"
ADDRS = ["192.0.2.7", "192.0.2.9"]
failures = []

def evidence(*args):
    p = run(mx, "check", NAME, "--json", "--rules-dir", rules, *args, check_rc=(0, 1, 2, 3))
    doc = json.loads(p.stdout)
    for r in doc["rules"]:
        if r["id"] == "ans-x" and r["status"] != "done":
            raise SystemExit("rule ans-x: %s\n%s" % (r["status"], p.stdout))
    return [f["evidence"] for f in doc["findings"] if f["rule"] == "ans-x"][0]

def expect(mode, ev, missing, detail_writable):
    want = {
        "shared": True, "status": "NOERROR", "n": 2, "ips": ",".join(ADDRS),
        "keys": "aa,answers,cname,elapsed_ms,name,rcode,server,status,tc,type",
        "write_first": True, "write_shared": True, "write_rr": True, "sort": True, "insert": True,
        "rawset": True, "cname_empty": True, "write_empty": True, "still": "NOERROR " + ADDRS[0],
        "sorted_copy": ",".join(sorted(ADDRS, reverse=True)),
        "answer": [{"data": a, "name": NAME, "ttl": 60, "type": "A"} for a in ADDRS],
        "missing": missing,
    }
    if detail_writable is not None:
        want["detail_writable"] = detail_writable
    for k in sorted(set(want) | set(ev)):
        if ev.get(k) != want.get(k):
            failures.append("%s: %s: got %s, expected %s" % (mode, k, json.dumps(ev.get(k)), json.dumps(want.get(k))))

# --- replay: a recording made here (the missing name is not in it)
result = {"name": NAME, "type": "A", "status": "NOERROR", "server": "127.0.0.1:53", "elapsed_ms": 1,
          "rcode": "NOERROR", "aa": False, "tc": False,
          "answers": [{"name": NAME, "type": "A", "ttl": 60, "data": a} for a in ADDRS], "cname": []}
rec = {"schema": "mxdiag.recording/1", "options": {}, "only": "ans-x", "servers": "127.0.0.1:53",
       "checks": [{"target": NAME, "started": "2026-01-01T00:00:00Z", "duration_ms": 1}],
       "calls": [{"call": "dns.query", "args": {"name": NAME, "type": "A"}, "result": result}]}
path = os.path.join(tmp, "rec.json")
json.dump(rec, open(path, "w"))
expect("replay", evidence("--replay", path), "error", True)

# --- live: a DNS responder on loopback (A of NAME: ADDRS; anything else: NXDOMAIN)
def qname(msg, off):
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode())
        off += 1 + n
    return ".".join(labels), off + 1

def responder(sock):
    while True:
        try:
            msg, peer = sock.recvfrom(512)
        except OSError:
            return
        name, end = qname(msg, 12)
        qtype = struct.unpack("!H", msg[end:end + 2])[0]
        question = msg[12:end + 4]
        hit = name.lower() == NAME and qtype == 1
        flags = 0x8180 if hit or name.lower() == NAME else 0x8183
        answers = b""
        if hit:
            for a in ADDRS:
                answers += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(a)
        head = msg[:2] + struct.pack("!HHHHH", flags, 1, len(ADDRS) if hit else 0, 0, 0)
        sock.sendto(head + question + answers, peer)

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
threading.Thread(target=responder, args=(sock,), daemon=True).start()
expect("live", evidence("--only", "ans-x", "--timeout", "2", "--resolver", "127.0.0.1:%d" % sock.getsockname()[1]),
       "NXDOMAIN", None)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")

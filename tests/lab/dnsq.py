#!/usr/bin/env python3
"""Tiny stdlib DNS query tool for the mxdiag lab (no dig on these machines).

usage: dnsq.py [@SERVER] NAME [TYPE]      e.g. dnsq.py @127.0.0.1 healthy.test MX
Prints "rcode=NAME" then one line per answer record. Exit 0 on any reply,
1 on timeout (2 s, 2 tries), 2 on usage error. Only ever talks to SERVER
(default 127.0.0.1), which inside the lab is the lab's own resolver.
"""
import random, socket, struct, sys

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def name_at(msg, off):
    labels, jumped, end = [], False, None
    for _ in range(128):
        ln = msg[off]
        if ln >= 0xC0:
            if not jumped:
                end = off + 2
            off = ((ln & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if ln == 0:
            break
        labels.append(msg[off:off + ln].decode("ascii", "replace"))
        off += ln
    return (".".join(labels) + "."), (end if jumped else off)


def rdata_text(msg, rtype, off, rdlen):
    rd = msg[off:off + rdlen]
    if rtype == 1:
        return socket.inet_ntop(socket.AF_INET, rd)
    if rtype == 28:
        return socket.inet_ntop(socket.AF_INET6, rd)
    if rtype in (2, 5, 12):
        return name_at(msg, off)[0]
    if rtype == 15:
        return "%d %s" % (struct.unpack("!H", rd[:2])[0], name_at(msg, off + 2)[0])
    if rtype == 16:
        out, i = [], 0
        while i < len(rd):
            out.append('"%s"' % rd[i + 1:i + 1 + rd[i]].decode("utf-8", "replace"))
            i += 1 + rd[i]
        return " ".join(out)
    return rd.hex()


def query(server, name, qtype, timeout=2.0, tries=2):
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack("!HH", TYPES.get(qtype.upper(), 1), 1)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    for _ in range(tries):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.connect((server, 53))   # connected, so ICMP port-unreachable -> ECONNREFUSED
            s.send(q)
            msg = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError, OSError) as e:
            err = e
            continue
        finally:
            s.close()
        if struct.unpack("!H", msg[:2])[0] != qid:
            continue
        flags, qd, an = struct.unpack("!HHH", msg[2:8])
        off = 12
        for _ in range(qd):
            off = name_at(msg, off)[1] + 4
        recs = []
        for _ in range(an):
            rname, off = name_at(msg, off)
            rtype, _cls, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            tname = {v: k for k, v in TYPES.items()}.get(rtype, str(rtype))
            recs.append("%s %d %s %s" % (rname, ttl, tname, rdata_text(msg, rtype, off, rdlen)))
            off += rdlen
        return RCODES.get(flags & 15, str(flags & 15)), recs
    return None, [type(err).__name__ + ": " + str(err)]


def main(argv):
    server = "127.0.0.1"
    if argv and argv[0].startswith("@"):
        server, argv = argv[0][1:], argv[1:]
    if not argv or len(argv) > 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rcode, recs = query(server, argv[0], argv[1] if len(argv) > 1 else "A")
    if rcode is None:
        print("timeout/no answer from %s (%s)" % (server, recs[0]))
        return 1
    print("rcode=" + rcode)
    for r in recs:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

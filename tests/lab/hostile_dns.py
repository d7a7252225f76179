#!/usr/bin/env python3
"""A hostile DNS responder for the lab: answers what no sane server sends.

Listens on UDP and TCP port 53 of one address (default 127.0.0.66) inside the
lab namespace. The first label of the query name picks the behaviour:

  loop.*      answer whose owner name is a compression pointer to itself
  badid.*     a correct answer with the wrong message ID (a client must drop it)
  trunc.*     UDP: TC bit, no answer; TCP: accept, then close at once
  huge.*      UDP: TC bit; TCP: ~60 KiB answer of 400 TXT records of 150 bytes
  garbage.*   300 random bytes
  short.*     5 bytes
  badrdata.*  an A record whose RDLENGTH is 16
  wrongq.*    an answer for another question name
  servfail.*  rcode SERVFAIL
  (other)     NXDOMAIN

Every server loop is bounded: it serves at most --max-queries queries and
exits after --lifetime seconds.
"""
import argparse, os, random, socket, struct, sys, threading, time

def qname_of(msg):
    """Returns (labels, end offset) of the first question, or (None, 0)."""
    labels, i = [], 12
    try:
        while True:
            n = msg[i]
            if n == 0:
                return labels, i + 1
            if n & 0xC0:
                return None, 0
            labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace").lower())
            i += 1 + n
    except IndexError:
        return None, 0

def header(qid, flags, qd, an):
    return struct.pack(">HHHHHH", qid, flags, qd, an, 0, 0)

def answer(msg, tcp):
    if len(msg) < 12:
        return None
    qid = struct.unpack(">H", msg[:2])[0]
    labels, qend = qname_of(msg)
    if labels is None or qend + 4 > len(msg):
        return None
    question = msg[12:qend + 4]
    kind = labels[0] if labels else ""
    resp = 0x8180  # QR, RD, RA
    if kind == "loop":
        # owner name = pointer to its own offset: c0 XX where XX is where it sits
        off = 12 + len(question)
        rr = struct.pack(">H", 0xC000 | off) + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
        return header(qid, resp, 1, 1) + question + rr
    if kind == "badid":
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, 4) + b"\x00\x0a\x00"
        return header((qid + 1) & 0xFFFF, resp, 1, 1) + question + rr[:-1]
    if kind == "trunc":
        if tcp:
            return b""  # close
        return header(qid, resp | 0x0200, 1, 0) + question
    if kind == "huge":
        if not tcp:
            return header(qid, resp | 0x0200, 1, 0) + question
        rrs = b""
        txt = b"x" * 149
        for _ in range(400):
            rdata = bytes([len(txt)]) + txt
            rrs += b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, len(rdata)) + rdata
        return header(qid, resp, 1, 400) + question + rrs
    if kind == "garbage":
        return bytes(random.getrandbits(8) for _ in range(300))
    if kind == "short":
        return struct.pack(">H", qid) + b"\x81\x80\x00"
    if kind == "badrdata":
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 16) + bytes([192, 0, 2, 1])
        return header(qid, resp, 1, 1) + question + rr
    if kind == "wrongq":
        other = b"\x05other\x04test\x00" + question[-4:]
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
        return header(qid, resp, 1, 1) + other + rr
    if kind == "servfail":
        return header(qid, 0x8182, 1, 0) + question
    return header(qid, 0x8183, 1, 0) + question

def serve_udp(addr, budget):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    s.settimeout(1.0)
    while budget.take():
        try:
            msg, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        r = answer(msg, False)
        if r:
            s.sendto(r, peer)

def serve_tcp(addr, budget):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 53))
    s.listen(16)
    s.settimeout(1.0)
    while budget.take():
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(5)
        try:
            ln = c.recv(2)
            if len(ln) == 2:
                want = struct.unpack(">H", ln)[0]
                msg = b""
                while len(msg) < want:
                    chunk = c.recv(want - len(msg))
                    if not chunk:
                        break
                    msg += chunk
                r = answer(msg, True)
                if r:
                    c.sendall(struct.pack(">H", len(r)) + r)
        except OSError:
            pass
        c.close()

class Budget:
    def __init__(self, n, deadline):
        self.n, self.deadline, self.lock = n, deadline, threading.Lock()
    def take(self):
        with self.lock:
            if self.n <= 0 or time.time() > self.deadline:
                return False
            self.n -= 1
            return True

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.66")
    ap.add_argument("--max-queries", type=int, default=200000)
    ap.add_argument("--lifetime", type=float, default=6 * 3600)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    budget = Budget(a.max_queries, time.time() + a.lifetime)
    threads = [threading.Thread(target=f, args=(a.addr, budget), daemon=True) for f in (serve_udp, serve_tcp)]
    for t in threads:
        t.start()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(str(os.getpid()))
    for t in threads:
        t.join()

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the curated seed corpora under tests/fuzz/seeds/<harness>/.

Small hand-made inputs in each harness's input format (header bytes, then
payload), plus a sample of the project's own log lines (tests/data/logs/lines.tsv,
written for this project): never lines from other people's logs, and nothing
from outside the repository, so the seeds are the same in every clone.
Re-run after changing a harness's input format:  python3 tests/fuzz/make_seeds.py
"""
import gzip, os, struct, sys, hashlib

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
LINES = os.path.join(HERE, "..", "data", "logs", "lines.tsv")


def put(harness, name, data):
    d = os.path.join(SEEDS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- SMTP replies -----------------------------------------------------------
replies = {
    "greeting": "220 mx.example.com ESMTP Postfix\r\n",
    "ehlo": "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
            "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
            "250 SMTPUTF8\r\n",
    "rcpt-reject": "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n",
    "mismatch": "250 5.1.1 odd\r\n",
    "greylist": "451-4.7.1 Greylisted, please try again\r\n451-4.7.1 in 300 seconds\r\n451 4.7.1 see http://x\r\n",
    "bare": "250\n354 go ahead\n",
    "binary": "220 hi\x00there\x1b[31m\r\n",
    "cont-mismatch": "250-a\r\n251 b\r\n",
    "rbl": "554-5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org\r\n"
           "554 5.7.1 https://www.spamhaus.org/query/ip/198.51.100.7\r\n",
}
for k, v in replies.items():
    put("smtp_reply", k, b"\x00" + v.encode("latin-1"))
put("smtp_reply", "small-limits", b"\x01\x02\x04\x10" + replies["ehlo"].encode())
for k in ("greeting", "ehlo", "greylist", "binary"):
    put("smtp_stream", k, b"\x00\x00\x00\x00" + replies[k].encode("latin-1"))
put("smtp_stream", "bytewise-lines", b"\x00\xff\x00\x00" + (replies["greeting"] + replies["ehlo"]).encode())
put("smtp_stream", "small-limits", b"\x02\x55\x21\x08" + replies["ehlo"].encode())
put("smtp_stream", "no-eol", b"\x07\x00\x00\x00" + b"220 " + b"x" * 300)


# ---- DNS answers ------------------------------------------------------------
def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def msg(qname, qtype, answers, rcode=0, flags=0x8580, extra_an=None):
    hdr = struct.pack(">HHHHHH", 0x1234, flags | rcode, 1, len(answers) if extra_an is None else extra_an, 0, 0)
    q = name(qname) + struct.pack(">HH", qtype, 1)
    body = b""
    for owner, t, rdata in answers:
        o = owner if isinstance(owner, bytes) else name(owner)
        body += o + struct.pack(">HHIH", t, 1, 300, len(rdata)) + rdata
    return hdr + q + body


PTR_Q = b"\xc0\x0c"  # pointer to the question name
qtypes = [1, 28, 15, 16, 5, 12, 2, 6, 33, 52, 257, 99]
def dns(fname, qtype, m):
    put("dns_decode", fname, bytes([qtypes.index(qtype)]) + m)

dns("a", 1, msg("mx1.example.test", 1, [(PTR_Q, 1, bytes([192, 0, 2, 10])), (PTR_Q, 1, bytes([192, 0, 2, 11]))]))
dns("aaaa", 28, msg("mx1.example.test", 28, [(PTR_Q, 28, bytes.fromhex("20010db8000000000000000000000025"))]))
dns("mx", 15, msg("example.test", 15, [(PTR_Q, 15, struct.pack(">H", 10) + name("mx1.example.test")),
                                       (PTR_Q, 15, struct.pack(">H", 20) + b"\x03mx2\xc0\x0c")]))
dns("null-mx", 15, msg("example.test", 15, [(PTR_Q, 15, b"\x00\x00\x00")]))
dns("txt", 16, msg("example.test", 16, [(PTR_Q, 16, b"\x10v=spf1 -all ok.\x05 more")]))
dns("cname-chain", 1, msg("www.example.test", 1, [(PTR_Q, 5, name("a.example.test")), ("a.example.test", 5, name("b.example.test")),
                                                  ("b.example.test", 1, bytes([203, 0, 113, 5]))]))
dns("cname-loop", 1, msg("loop.example.test", 1, [(PTR_Q, 5, name("loop.example.test"))]))
soa = name("ns1.example.test") + name("hostmaster.example.test") + struct.pack(">IIIII", 1, 3600, 600, 86400, 300)
dns("soa", 6, msg("example.test", 6, [(PTR_Q, 6, soa)]))
dns("nxdomain", 1, msg("nope.example.test", 1, [], rcode=3))
dns("ptr", 12, msg("10.2.0.192.in-addr.arpa", 12, [(PTR_Q, 12, name("mx1.example.test"))]))
dns("dnsbl", 1, msg("7.100.51.198.zen.example", 1, [(PTR_Q, 1, bytes([127, 0, 0, 2])), (PTR_Q, 1, bytes([127, 0, 0, 10]))]))
dns("tlsa", 52, msg("_25._tcp.mx1.example.test", 52, [(PTR_Q, 52, b"\x03\x01\x01" + bytes(range(32)))]))
dns("truncated", 1, msg("example.test", 1, [(PTR_Q, 1, bytes([1, 2, 3, 4]))])[:-3])
dns("pointer-loop", 1, struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x01\x02\x03\x04")
dns("count-lies", 1, msg("example.test", 1, [(PTR_Q, 1, bytes([1, 2, 3, 4]))], extra_an=300))

# ---- DNSBL ------------------------------------------------------------------
for i, (kind, subj, zone, ans) in enumerate([
        (0, "198.51.100.7", "zen.spamhaus.org", "127.0.0.2"),
        (0, "2001:db8::25", "zen.spamhaus.org.", "127.0.0.4"),
        (0, "::ffff:192.0.2.1", "bl.example", "127.255.255.254"),
        (1, "Example.COM.", "dbl.spamhaus.org", "127.0.1.255"),
        (1, "user@example.com", "dbl.example", "192.0.2.1"),
        (0, "198.51.100", "zen.example", "not-an-ip"),
        (1, "a" * 63 + "." + "b" * 63 + "." + "c" * 63, "dbl.example", "127.0.0.1")]):
    put("dnsbl", "s%d" % i, bytes([kind, 1]) + ("%s\n%s\n%s" % (subj, zone, ans)).encode())
put("dnsbl", "small-out", b"\x00\x10198.51.100.7\nzen.spamhaus.org\n127.0.0.2")

# ---- addresses and targets --------------------------------------------------
for i, t in enumerate(["example.com", "user@example.com", "mx1.example.com:2525", "192.0.2.1", "192.0.2.1:25",
                       "[2001:db8::1]:25", "2001:db8::1", "[mx.example.com]:587", "user@[192.0.2.1]",
                       "user@[IPv6:2001:db8::1]", "EXAMPLE.com.", "-bad-.example", "a..b", "xn--bcher-kva.example",
                       "_dmarc.example.com", "1.2.3", "fe80::1%eth0", "::ffff:127.0.0.1", "a" * 64 + ".com"]):
    put("addr", "t%02d" % i, t)

# ---- JSON -------------------------------------------------------------------
put("escape", "controls", b"\x03\x1b]0;owned\x07\x1b[2J\r\n\t\x08\x7f plain")
put("escape", "utf8", b"\x00caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x93\xa7 \xc2\x9b \xe2\x80\xae")
put("escape", "invalid", b"\x01\xff\xfe \xc3 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \x80")
put("escape", "formula", b'\x00=HYPERLINK("http://x.test/")@example.org,a|b"c\\d')
put("json", "str-ascii", b"\x00hello \"world\"\\\n\t")
put("json", "str-utf8", b"\x00caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7")
put("json", "str-invalid", b"\x00bad \xff\xfe \xc3 \xed\xa0\x80 \xc0\xaf end\x00\x7f")
put("json", "doc", b"\x01" + b'{"schema":"mxdiag.check/1","findings":[{"code":"mx.none","severity":"crit",'
                   b'"evidence":{"preference":10,"ttl":3.5e2,"ok":true,"x":null}}],"n":-12,"f":1.25e-3}')
put("json", "escapes", b"\x01" + br'["\u00e9\ud83d\udce7\u0000\/\b\f\n\r\t\"\\", "\udc00", "\ud800x"]')
put("json", "deep", b"\x01" + b"[" * 70 + b"]" * 70)
put("json", "numbers", b"\x01[0,-0,1e400,-1e400,12345678901234567890,0.1,1E+2,-3.0]")

# ---- mail logs ----------------------------------------------------------------
lines = []
with open(LINES, "rb") as f:
    for row in f.read().split(b"\n"):
        if row.strip() and not row.startswith(b"#"):
            lines.append(row.split(b"\t")[-1])
# a deterministic sample: distinct shapes, small seeds
picked = []
seen = set()
for ln in lines:
    key = hashlib.sha1(ln).hexdigest()
    if key[:2] in seen:
        continue
    seen.add(key[:2])
    picked.append(ln)
    if len(picked) >= 48:
        break
hand = [
    b"Mar  5 15:51:11 mail postfix/smtp[1234]: 3F2A81C0A2: to=<u@example.com>, relay=none, delay=30, "
    b"delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx1.example.com[192.0.2.10]:25: Connection timed out)",
    b"2024-03-01T10:42:00.123456+01:00 mail postfix-out/smtp[99]: ABC: to=<a@b.example>, relay=mx.b.example[2001:db8::1]:25, "
    b"dsn=2.0.0, status=sent (250 2.0.0 Ok)",
    b"2024-03-01 10:42:00 1rfXyz-000123-AB ** x@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.1]: "
    b"SMTP error from remote mail server after RCPT TO:<x@example.net>: 550 5.1.1 unknown",
    b"2024-03-01 10:42:00.123 +0100 1rfXyz-000123-AB == y@example.org R=dnslookup T=remote_smtp defer (111): Connection refused",
    b"Dec 31 23:59:59 host sm-mta[77]: x1: to=<z@example.org>, delay=00:00:01, mailer=esmtp, relay=mx.example.org. "
    b"[192.0.2.3], dsn=4.0.0, stat=Deferred: Connection refused by mx.example.org.",
    b"Feb 30 12:00:00 host postfix/smtp[1]: garbage",
]
for i, ln in enumerate(picked + hand):
    put("logparse", "l%02d" % i, bytes([i * 37 % 256]) + ln)
put("logparse", "excerpt", b"\x00" + b"\n".join(hand))
# one line, several recipients (one event each: mx_log_event_next_recipient)
multi = (b"Dec 31 23:59:59 host sm-mta[78]: x2: to=<a@x.example>,b@y.example,<c@z.example>, delay=00:00:01, "
         b"mailer=esmtp, relay=mx.x.example. [192.0.2.4], dsn=2.0.0, stat=Sent (ok)")
put("logparse", "multi-rcpt", b"\x00" + multi)
text = b"\n".join(hand + picked[:10]) + b"\n"
put("logread", "plain", b"\x00\x00" + text)
put("logread", "gzip", b"\x01\x00" + text)
put("logread", "gzip-truncated", b"\x01\xc0" + text)
put("logread", "two-members", b"\x02\x01" + text)
put("logread", "long-lines", b"\x03\x20" + b"x" * 4000)
put("logread", "stream", b"\x10\x02" + text)
# two lines, six events: the stream's counts hold more events than lines
rcpts = b"".join(b"Apr  5 10:00:0%d mx3 sm-mta[600%d]: 5A1B2C3D00456%d: to=<alice@dest.example>,<bob@other.example>,"
                 b"<carl@dest.example>, delay=00:00:01, mailer=esmtp, pri=150, relay=mx.dest.example. [192.0.2.10], "
                 b"dsn=2.0.0, stat=Sent (Ok)\n" % (i, i, i) for i in (1, 2))
put("logread", "stream-rcpts", b"\x10\x00" + rcpts)
put("logread", "gzip-file", b"\x00\x00" + gzip.compress(text, mtime=0))
put("logread", "nul-crlf", b"\x00\x00" + b"a\x00b\r\n\r\n\xff\xfe\nlast")

# ---- batch lists --------------------------------------------------------------
put("batch_input", "yaml-full", b"\x00" + b"""defaults:
  only: [mx, tcp]
  timeout: 5
  source_ips: [198.51.100.1]
domains:
  - example.test
  - domain: other.test
    timeout: 3
    expect: {mx: [mx1.other.test], starttls: true, accepts_from: [198.51.100.1]}
  - bad..name
  - {domain: 192.0.2.1}
""")
put("batch_input", "yaml-seq", b"\x00- a.example\n- b.example\n- [nested]\n- &x c.example\n- *x\n")
put("batch_input", "yaml-bad", b"\x00domains:\n  - a\n - b\n  c: [\n")
put("batch_input", "plain", b"\x01# comment\nexample.test\n\n  other.test  \nuser@x.test\n\xff\xfe\n")
put("batch_input", "yaml-deep", b"\x00domains:\n  - domain: d.test\n    expect: " + b"[" * 40 + b"]" * 40 + b"\n")

# ---- rules --------------------------------------------------------------------
put("rules", "minimal", b"""return {
  id = "fuzz", description = "d", categories = {"mx"},
  codes = {["fuzz.x"] = "info"},
  run = function(target, report) report:finding{code = "fuzz.x", summary = "s"} end,
}
""")
put("rules", "provides", b"""local smtp = require("smtp")
return { id = "p", description = "d", categories = {"x"}, provides = {"a.b"}, requires = {},
  codes = {}, timeout = 3, applies = function(t) return t.kind == "domain" end,
  run = function(t, r) r:publish("a.b", 1) end }
""")
put("rules", "bad-field", b"return { id = 1, nope = true }\n")
put("rules", "loop", b"while true do end\n")
put("rules", "alloc", b"local t = {} for i = 1, 1e7 do t[i] = string.rep('x', 100) end return {}\n")
put("rules", "unknown-require", b"return { id = 'r', description = 'd', categories = {'x'}, requires = {'no.such'}, codes = {}, run = function() end }\n")
print("seeds written to", SEEDS)

#!/usr/bin/env python3
"""Self-test of the mxdiag lab (no mxdiag needed). Run inside the namespace:
    tests/lab/lab exec python3 tests/lab/selftest.py [-v]
Checks that every scenario really looks the way SCENARIOS.md says: DNS
answers, DNSBL answers (normal and "blocked" resolver), connect() errnos,
SMTP greetings, TLS verification results. Exit 0 if all pass, 1 otherwise.
"""
import errno, os, socket, ssl, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsq import query  # noqa: E402

VERBOSE = "-v" in sys.argv
fails = []


def check(name, ok, detail=""):
    if not ok:
        fails.append(name)
    if VERBOSE or not ok:
        print("%s %s %s" % ("ok  " if ok else "FAIL", name, detail))


def dns(server, qname, qtype, want_rcode="NOERROR", want=None):
    rcode, recs = query(server, qname, qtype)
    got = " | ".join(recs)
    ok = rcode == want_rcode and (want is None or any(want in r for r in recs))
    check("dns @%s %s %s" % (server, qname, qtype), ok, "rcode=%s %s" % (rcode, got))


def connect(addr, port=25, src=None, timeout=3.0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((addr, port))
        return s, None
    except socket.timeout:
        s.close()
        return None, "timeout"
    except OSError as e:
        s.close()
        return None, errno.errorcode.get(e.errno, str(e.errno))


def expect_connect(label, addr, want, src=None, timeout=3.0):
    s, err = connect(addr, src=src, timeout=timeout)
    if s:
        s.close()
    got = err or "connected"
    check("connect %s %s%s" % (label, addr, " from " + src if src else ""), got == want, "got %s want %s" % (got, want))


def greeting(addr, timeout=8.0):
    s, err = connect(addr, timeout=timeout)
    if not s:
        return None, err, 0.0
    t0 = time.monotonic()
    try:
        data = s.recv(512)
    except socket.timeout:
        data = b""
    s.close()
    return data.decode("latin-1"), None, time.monotonic() - t0


def smtp_rcpt(addr, rcpt):
    s, err = connect(addr)
    if not s:
        return err
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            ln = f.readline(1024).decode()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return "".join(lines)
    reply()
    for cmd in ("EHLO lab.test", "MAIL FROM:<lab@sender.test>", "RCPT TO:<%s>" % rcpt):
        s.sendall(cmd.encode() + b"\r\n")
        r = reply()
    s.sendall(b"QUIT\r\n")
    s.close()
    return r.strip()


def starttls(addr, server_name):
    s, err = connect(addr)
    if not s:
        return err
    s.settimeout(5)
    f = s.makefile("rb")

    def reply():
        while True:
            ln = f.readline(1024).decode()
            if len(ln) < 4 or ln[3] != "-":
                return ln
    reply()
    s.sendall(b"EHLO lab.test\r\n")
    reply()
    s.sendall(b"STARTTLS\r\n")
    if not reply().startswith("220"):
        return "no-starttls"
    ctx = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    try:
        t = ctx.wrap_socket(s, server_hostname=server_name)
        t.close()
        return "verified"
    except ssl.SSLCertVerificationError as e:
        return "verify-failed: " + e.verify_message
    except (ssl.SSLError, OSError) as e:
        return "tls-error: " + type(e).__name__


R = "127.0.0.1"
# --- DNS: lab zones
dns(R, "healthy.test", "MX", want="10 mx.healthy.test.")
dns(R, "mx.healthy.test", "A", want="192.0.2.10")
dns(R, "mx.healthy.test", "AAAA", want="2001:db8::10")
dns(R, "nonexistent.test", "MX", "NXDOMAIN")
dns(R, "nullmx.test", "MX", want="0 .")
dns(R, "aonly.test", "MX")
dns(R, "aonly.test", "A", want="192.0.2.10")
dns(R, "mx.mxcname.test", "A", want="mx.healthy.test.")
dns(R, "mx.nowhere.mxnoaddr.test", "A", "NXDOMAIN")
dns(R, "mx1.fourdrop.test", "A", want="192.0.2.25")
dns(R, "1.100.51.198.in-addr.arpa", "PTR", want="mail1.sender.test.")
dns(R, "2.100.51.198.in-addr.arpa", "PTR", want="198-51-100-2.dyn.isp.test.")
dns(R, "198-51-100-2.dyn.isp.test", "A", want="198.51.100.2")
dns(R, "5.100.51.198.in-addr.arpa", "PTR", "NXDOMAIN")
dns(R, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", want="mx.healthy.test.")
dns(R, "example.com", "A", "NXDOMAIN")     # never leaves the lab
# --- DNSBL, normal resolver
dns(R, "2.0.0.127.zen.spamhaus.org", "A", want="127.0.0.2")
dns(R, "1.0.0.127.zen.spamhaus.org", "A", "NXDOMAIN")
dns(R, "1.100.51.198.zen.spamhaus.org", "A", want="127.0.0.2")
dns(R, "1.100.51.198.zen.spamhaus.org", "TXT", want="SBL")
dns(R, "2.100.51.198.zen.spamhaus.org", "A", "NXDOMAIN")
dns(R, "d.a.b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org", "A", want="127.0.0.3")
dns(R, "test.dbl.spamhaus.org", "A", want="127.0.1.2")
dns(R, "dbltest.com.dbl.spamhaus.org", "A", want="127.0.1.2")
dns(R, "invalid.dbl.spamhaus.org", "A", "NXDOMAIN")
dns(R, "spammy.test.dbl.spamhaus.org", "A", want="127.0.1.2")
dns(R, "healthy.test.dbl.spamhaus.org", "A", "NXDOMAIN")
dns(R, "1.100.51.198.dnsbl-1.uceprotect.net", "A", want="127.0.0.2")
dns(R, "2.100.51.198.dnsbl-1.uceprotect.net", "A", "NXDOMAIN")
dns(R, "2.100.51.198.dnsbl-2.uceprotect.net", "A", want="127.0.0.2")
dns(R, "1.100.51.198.dnsbl-3.uceprotect.net", "A", "NXDOMAIN")
for z in ("bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com", "bl.mailspike.net", "dnsbl-3.uceprotect.net"):
    dns(R, "2.0.0.127." + z, "A", want="127.0.0.2")
    dns(R, "1.0.0.127." + z, "A", "NXDOMAIN")
    dns(R, "2.100.51.198." + z, "A", "NXDOMAIN")
# --- DNSBL, "blocked" resolver: everything 127.255.255.254, lab zones still fine
B = "127.0.0.3"
dns(B, "2.0.0.127.zen.spamhaus.org", "A", want="127.255.255.254")
dns(B, "1.0.0.127.zen.spamhaus.org", "A", want="127.255.255.254")
dns(B, "2.100.51.198.zen.spamhaus.org", "A", want="127.255.255.254")
dns(B, "test.dbl.spamhaus.org", "A", want="127.255.255.254")
dns(B, "healthy.test.dbl.spamhaus.org", "A", want="127.255.255.254")
dns(B, "mx.healthy.test", "A", want="192.0.2.10")
# --- resolvers that fail
rc, _ = query("127.0.0.98", "healthy.test", "MX", timeout=0.5, tries=1)
check("dns 127.0.0.98 times out", rc is None)
rc, recs = query("127.0.0.99", "healthy.test", "MX", timeout=0.5, tries=1)
check("dns 127.0.0.99 refused", rc is None and "refused" in recs[0].lower(), recs[0])
# --- connect()
expect_connect("healthy", "192.0.2.10", "connected")
expect_connect("healthy v6", "2001:db8::10", "connected")
expect_connect("refused", "192.0.2.11", "ECONNREFUSED")
expect_connect("rejected", "192.0.2.12", "ECONNREFUSED")
expect_connect("dropped", "192.0.2.13", "timeout", timeout=1)
expect_connect("hostunreach", "192.0.2.14", "EHOSTUNREACH")
expect_connect("netunreach", "192.0.2.15", "ENETUNREACH")
expect_connect("prohibited", "192.0.2.16", "EHOSTUNREACH")
expect_connect("backup mx1", "192.0.2.20", "ECONNREFUSED")
expect_connect("backup mx2", "192.0.2.21", "connected")
expect_connect("allrefuse mx1", "192.0.2.22", "ECONNREFUSED")
expect_connect("allrefuse mx2", "192.0.2.23", "ECONNREFUSED")
for a in ("192.0.2.24", "192.0.2.25", "192.0.2.26", "2001:db8::26"):
    expect_connect("fourdrop", a, "timeout", timeout=1)
expect_connect("srcblock", "192.0.2.27", "ECONNREFUSED", src="198.51.100.1")
expect_connect("srcblock", "192.0.2.27", "connected", src="198.51.100.2")
expect_connect("no such source", "192.0.2.10", "EADDRNOTAVAIL", src="198.51.100.99")
expect_connect("mxreserved", "127.0.0.25", "ECONNREFUSED")
# broken IPv6 next to working IPv4 (v6drop, v6unreach, v6noroute .test; their IPv4 is 192.0.2.10)
expect_connect("v6drop", "2001:db8::38", "timeout", timeout=1)
expect_connect("v6unreach", "2001:db8::39", "EHOSTUNREACH")
expect_connect("v6noroute", "2001:db8:ffff::25", "ENETUNREACH")
# --- SMTP greetings
g, _, _ = greeting("192.0.2.10")
check("greeting healthy 220", (g or "").startswith("220 mx.healthy.test"), repr(g))
g, _, _ = greeting("192.0.2.30")
check("greeting reject554", (g or "").startswith("554"), repr(g))
# connlimit (1 at once) greets a single client; ratelimit/ratelimited (.35, .37: 1 per minute) are
# left alone here, their budget belongs to the conn_* cases
g, _, _ = greeting("192.0.2.36")
check("greeting connlimit 220", (g or "").startswith("220 mx.connlimit.test"), repr(g))
g, _, _ = greeting("192.0.2.31")
check("greeting tempfail421", (g or "").startswith("421"), repr(g))
g, _, dt = greeting("192.0.2.32")
check("greeting slowgreet ~3s", (g or "").startswith("220") and 2.5 <= dt <= 6, "%r after %.1fs" % (g, dt))
g, _, _ = greeting("203.0.113.1")
check("hostile endless 220-", (g or "").startswith("220-"), repr((g or "")[:40]))
g, _, _ = greeting("203.0.113.5")
check("hostile close 220-part", g == "220-part", repr(g))
g, _, _ = greeting("203.0.113.4", timeout=1)
check("hostile slow silent", g == "", repr(g))
# --- recipients
r = smtp_rcpt("192.0.2.10", "user@healthy.test")
check("rcpt user@healthy.test 250", r.startswith("250"), r)
r = smtp_rcpt("192.0.2.10", "nobody@healthy.test")
check("rcpt nobody@healthy.test 550 5.1.1", r.startswith("550 5.1.1"), r)
# --- TLS
check("tls healthy verified", starttls("192.0.2.10", "mx.healthy.test") == "verified")
r = starttls("192.0.2.33", "mx.badname.test")
check("tls badname mismatch", "mismatch" in r or "match" in r, r)
r = starttls("192.0.2.34", "mx.expired.test")
check("tls expired", "expired" in r, r)
r = starttls("203.0.113.6", "mx.hostile-badtls.test")
check("tls hostile-badtls garbage", r.startswith("tls-error"), r)
# --- traceroute topology (optional)
if os.path.exists("/run/netns/mxlab-r1"):
    expect_connect("trace open", "203.0.113.65", "connected")
    expect_connect("trace r2 drop", "203.0.113.66", "timeout", timeout=1)
    expect_connect("trace r2 prohibited", "203.0.113.67", "EHOSTUNREACH")

print("selftest: %d failure(s)%s" % (len(fails), (": " + ", ".join(fails)) if fails else ""))
sys.exit(1 if fails else 0)

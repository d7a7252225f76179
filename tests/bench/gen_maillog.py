#!/usr/bin/env python3
"""Generate a realistic Postfix mail.log of a given size for tests/bench/logs.

Line shapes are those Postfix writes (as in tests/data/logs): smtpd
connect/disconnect, cleanup, qmgr, smtp status=sent/deferred/bounced,
"connect to ...: Connection refused/timed out", TLS notices, postscreen.
Queue ids, domains, addresses and timestamps vary; the failure mix is what a
relay with a few broken destinations sees (most lines are not failures).

usage: gen_maillog.py SIZE_MB [SEED] > mail.log
"""
import random
import sys

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def main():
    size = int(float(sys.argv[1]) * 1024 * 1024)
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 42)
    domains = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "gmx.de", "free.fr", "example.org"]
    domains += ["d%d.example" % i for i in range(3000)]
    weights = [30, 15, 10, 5, 5, 3, 2] + [0.01] * 3000
    pool = rnd.choices(domains, weights=weights, k=20000)
    users = ["user%d" % i for i in range(5000)]
    hex_ = "0123456789ABCDEF"
    qids = ["".join(rnd.choice(hex_) for _ in range(10)) for _ in range(50000)]
    ips = ["%d.%d.%d.%d" % (rnd.randint(1, 223), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(1, 254))
           for _ in range(4000)]
    v6 = ["2a00:1450:400c:c0%x::%x" % (rnd.randint(0, 15), rnd.randint(1, 0x1b)) for _ in range(200)]
    out = sys.stdout
    buf = []
    written = 0
    # one month of logs, starting Mar 1, monotonic clock
    t = 0.0
    step = 30 * 86400 / max(1, size / 190)
    fails = [
        ("deferred", "4.4.1", "connect to {h}[{a}]:25: Connection timed out"),
        ("deferred", "4.4.1", "connect to {h}[{a}]:25: Connection refused"),
        ("deferred", "4.4.1", "connect to {h}[{a}]:25: No route to host"),
        ("deferred", "4.4.1", "connect to {h}[{v6}]:25: Network is unreachable"),
        ("deferred", "4.4.2", "lost connection with {h}[{a}] while receiving the initial server greeting"),
        ("deferred", "4.7.0", "host {h}[{a}] refused to talk to me: 421 4.7.0 Too many connections"),
        ("bounced", "5.1.1", "host {h}[{a}] said: 550 5.1.1 <{r}>: Recipient address rejected: User unknown "
                             "(in reply to RCPT TO command)"),
        ("deferred", "4.4.3", "Host or domain name not found. Name service error for name={d} type=MX: Host not "
                              "found, try again"),
        ("bounced", "5.7.1", "host {h}[{a}] said: 554 5.7.1 Service unavailable; Client host [198.51.100.7] "
                             "blocked using zen.spamhaus.org (in reply to RCPT TO command)"),
    ]
    fail_w = [40, 15, 5, 10, 5, 5, 10, 5, 5]
    while written < size:
        t += step * rnd.uniform(0.2, 1.8)
        day = int(t // 86400)
        sec = int(t % 86400)
        ts = "Mar %2d %02d:%02d:%02d" % (day % 31 + 1, sec // 3600, sec % 3600 // 60, sec % 60)
        q = rnd.choice(qids)
        d = rnd.choice(pool)
        u = rnd.choice(users)
        a = rnd.choice(ips)
        pid = rnd.randint(1000, 99999)
        h = "mx%d.%s" % (rnd.randint(1, 4), d)
        k = rnd.random()
        if k < 0.17:
            line = "%s mail postfix/smtpd[%d]: connect from unknown[%s]" % (ts, pid, a)
        elif k < 0.34:
            line = ("%s mail postfix/smtpd[%d]: disconnect from unknown[%s] ehlo=1 mail=1 rcpt=1 data=1 quit=1 "
                    "commands=5" % (ts, pid, a))
        elif k < 0.42:
            line = "%s mail postfix/smtpd[%d]: %s: client=unknown[%s]" % (ts, pid, q, a)
        elif k < 0.50:
            line = "%s mail postfix/cleanup[%d]: %s: message-id=<%d.%s@%s>" % (ts, pid, q, pid, q, d)
        elif k < 0.58:
            line = "%s mail postfix/qmgr[%d]: %s: from=<%s@%s>, size=%d, nrcpt=1 (queue active)" % (
                ts, pid, q, u, rnd.choice(pool), rnd.randint(900, 90000))
        elif k < 0.66:
            line = "%s mail postfix/qmgr[%d]: %s: removed" % (ts, pid, q)
        elif k < 0.70:
            line = ("%s mail postfix/smtp[%d]: Trusted TLS connection established to %s[%s]:25: TLSv1.3 with "
                    "cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS "
                    "(2048 bits) server-digest SHA256" % (ts, pid, h, a))
        elif k < 0.72:
            line = ("%s mail postfix/postscreen[%d]: NOQUEUE: reject: RCPT from [%s]:%d: 550 5.7.1 Service "
                    "unavailable; client [%s] blocked using zen.spamhaus.org; from=<%s@%s>, to=<%s@mail.example>, "
                    "proto=ESMTP, helo=<x>" % (ts, pid, a, rnd.randint(1024, 65535), a, u, d, u))
        elif k < 0.92:
            line = ("%s mail postfix/smtp[%d]: %s: to=<%s@%s>, relay=%s[%s]:25, delay=%.1f, delays=0.1/0/0.3/0.5, "
                    "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as %s)" % (
                        ts, pid, q, u, d, h, a, rnd.uniform(0.2, 9), rnd.choice(qids)))
        elif k < 0.96:
            st, dsn, txt = rnd.choices(fails, weights=fail_w)[0]
            txt = txt.format(h=h, a=a, v6=rnd.choice(v6), r="%s@%s" % (u, d), d=d)
            line = ("%s mail postfix/smtp[%d]: %s: to=<%s@%s>, relay=none, delay=%d, delays=0.1/0/30/0, dsn=%s, "
                    "status=%s (%s)" % (ts, pid, q, u, d, rnd.randint(30, 400000), dsn, st, txt))
        else:
            why = rnd.choices(["Connection timed out", "Connection refused", "No route to host"], [6, 3, 1])[0]
            line = "%s mail postfix/smtp[%d]: connect to %s[%s]:25: %s" % (ts, pid, h, a, why)
        buf.append(line)
        written += len(line) + 1
        if len(buf) >= 20000:
            out.write("\n".join(buf))
            out.write("\n")
            buf = []
    if buf:
        out.write("\n".join(buf))
        out.write("\n")


if __name__ == "__main__":
    main()

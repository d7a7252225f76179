#!/usr/bin/env python3
"""Generate a mail log of another shape than gen_maillog.py, for tests/bench/logs.

An inbound mailbox server (Postfix + postscreen + amavis + Dovecot +
OpenDKIM in one syslog file), as written by rsyslog's high-precision
format: RFC 3339 timestamps with microseconds and a zone
("2024-03-01T10:42:00.123456+01:00"), long Postfix queue ids
("4PbC4x469Jz3tBr"), a "postfix-in/..." instance beside plain "postfix/".
About 94% of the lines are not outbound delivery events (Dovecot IMAP
logins, postscreen, smtpd, amavis, OpenDKIM, cleanup, qmgr, warnings);
the rest are local deliveries (lmtp/pipe to Dovecot, amavis re-injection)
and a small share of remote deliveries and failures.

usage: gen_maillog_inbound.py SIZE_MB [SEED] > mail.log
"""
import random
import sys

B32 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"


def main():
    size = int(float(sys.argv[1]) * 1024 * 1024)
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    ch = rnd.choice
    ri = rnd.randint
    local_doms = ["uhu-banane.net", "example.net", "mail.example.org"]
    remote = ["gmail.com", "outlook.com", "gmx.de", "web.de", "yahoo.com", "orange.fr"]
    remote += ["r%d.example" % i for i in range(400)]
    users = ["u%d" % i for i in range(3000)]
    qids = ["4P" + "".join(ch(B32) for _ in range(13)) for _ in range(40000)]
    ips = ["%d.%d.%d.%d" % (ri(1, 223), ri(0, 255), ri(0, 255), ri(1, 254)) for _ in range(3000)]
    v6 = ["2001:db8:%x::%x" % (ri(0, 0xffff), ri(1, 0xffff)) for _ in range(300)]
    hosts = ["mail-%s.example.com" % "".join(ch(B32) for _ in range(6)) for _ in range(500)]
    out = sys.stdout
    buf = []
    written = 0
    t = 1709251200.0  # 2024-03-01T00:00:00Z
    step = 30 * 86400 / max(1, size / 170)
    fails = [
        ("deferred", "4.4.1", "connect to {h}[{a}]:25: Connection timed out"),
        ("deferred", "4.4.1", "connect to {h}[{a}]:25: Connection refused"),
        ("bounced", "5.1.1", "host {h}[{a}] said: 550 5.1.1 <{r}>: User unknown (in reply to RCPT TO command)"),
        ("deferred", "4.7.0", "host {h}[{a}] said: 421 4.7.0 Try again later (in reply to end of DATA command)"),
        ("bounced", "5.4.4", "Host or domain name not found. Name service error for name={d} type=A: Host not found"),
    ]
    while written < size:
        t += step * rnd.uniform(0.2, 1.8)
        sec = int(t)
        days, rem = divmod(sec + 3600, 86400)  # written in +01:00
        day = days - 19783 + 1  # 19783 = days from 1970 to 2024-03-01
        ts = "2024-03-%02dT%02d:%02d:%02d.%06d+01:00" % (
            min(day, 31), rem // 3600, rem % 3600 // 60, rem % 60, ri(0, 999999))
        q = ch(qids)
        a = ch(ips)
        pid = ri(1000, 999999)
        k = rnd.random()
        u = ch(users)
        ld = ch(local_doms)
        if k < 0.20:
            line = ("%s mx1 dovecot: imap-login: Login: user=<%s@%s>, method=PLAIN, rip=%s, lip=10.0.0.5, "
                    "mpid=%d, TLS, session=<%s>" % (ts, u, ld, a, pid, q[:12]))
        elif k < 0.30:
            line = ("%s mx1 dovecot: imap(%s@%s)<%d><%s>: Disconnected: Logged out in=%d out=%d deleted=0 "
                    "expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0" % (
                        ts, u, ld, pid, q[:12], ri(20, 900), ri(300, 90000)))
        elif k < 0.40:
            line = "%s mx1 postfix/postscreen[%d]: CONNECT from [%s]:%d to [10.0.0.5]:25" % (ts, pid, a, ri(1024, 65535))
        elif k < 0.46:
            line = "%s mx1 postfix/postscreen[%d]: PASS OLD [%s]:%d" % (ts, pid, a, ri(1024, 65535))
        elif k < 0.50:
            line = ("%s mx1 postfix/postscreen[%d]: DNSBL rank 3 for [%s]:%d" % (ts, pid, a, ri(1024, 65535)))
        elif k < 0.56:
            line = "%s mx1 postfix-in/smtpd[%d]: connect from %s[%s]" % (ts, pid, ch(hosts), a)
        elif k < 0.62:
            line = ("%s mx1 postfix-in/smtpd[%d]: disconnect from %s[%s] ehlo=1 starttls=1 mail=1 rcpt=1 data=1 "
                    "quit=1 commands=6" % (ts, pid, ch(hosts), a))
        elif k < 0.65:
            line = ("%s mx1 postfix-in/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 450 4.7.1 Client host "
                    "rejected: cannot find your reverse hostname, [%s]; from=<%s@%s> to=<%s@%s> proto=ESMTP "
                    "helo=<%s>" % (ts, pid, a, a, u, ch(remote), u, ld, ch(hosts)))
        elif k < 0.69:
            line = "%s mx1 postfix-in/smtpd[%d]: %s: client=%s[%s]" % (ts, pid, q, ch(hosts), a)
        elif k < 0.73:
            line = "%s mx1 postfix-in/cleanup[%d]: %s: message-id=<%s@%s>" % (ts, pid, q, q.lower(), ch(remote))
        elif k < 0.77:
            line = ("%s mx1 opendkim[%d]: %s: %s [%s] not internal" % (ts, pid, q, ch(hosts), a))
        elif k < 0.80:
            line = ("%s mx1 opendkim[%d]: %s: DKIM-Signature field added (s=mail, d=%s)" % (ts, pid, q, ld))
        elif k < 0.84:
            line = ("%s mx1 amavis[%d]: (%05d-%02d) Passed CLEAN {RelayedInbound}, [%s]:%d <%s@%s> -> "
                    "<%s@%s>, Queue-ID: %s, Message-ID: <%s@%s>, mail_id: %s, Hits: -0.1, size: %d, "
                    "queued_as: %s, %d ms" % (ts, pid, ri(1, 99999), ri(1, 20), a, ri(1024, 65535), u,
                                               ch(remote), u, ld, q, q.lower(), ch(remote), q[:12],
                                               ri(900, 90000), ch(qids), ri(100, 9000)))
        elif k < 0.87:
            line = ("%s mx1 postfix-in/qmgr[%d]: %s: from=<%s@%s>, size=%d, nrcpt=1 (queue active)" % (
                ts, pid, q, u, ch(remote), ri(900, 90000)))
        elif k < 0.90:
            line = "%s mx1 postfix-in/qmgr[%d]: %s: removed" % (ts, pid, q)
        elif k < 0.91:
            line = ("%s mx1 postfix-in/smtpd[%d]: warning: hostname %s does not resolve to address %s: "
                    "Name or service not known" % (ts, pid, ch(hosts), a))
        elif k < 0.92:
            line = "%s mx1 CRON[%d]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)" % (ts, pid)
        elif k < 0.94:
            line = ("%s mx1 postfix-in/lmtp[%d]: %s: to=<%s@%s>, relay=mx1.%s[private/dovecot-lmtp], "
                    "delay=0.3, delays=0.1/0.01/0.01/0.18, dsn=2.0.0, status=sent (250 2.0.0 <%s@%s> "
                    "%s Saved)" % (ts, pid, q, u, ld, ld, u, ld, q[:12]))
        elif k < 0.96:
            line = ("%s mx1 postfix/amavis/smtp[%d]: %s: to=<%s@%s>, relay=127.0.0.1[127.0.0.1]:10024, "
                    "delay=2.4, delays=0.29/0.02/0.01/2.1, dsn=2.0.0, status=sent (250 2.0.0 from "
                    "MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as %s)" % (ts, pid, q, u, ld, ch(qids)))
        elif k < 0.985:
            d = ch(remote)
            line = ("%s mx1 postfix/smtp[%d]: %s: to=<%s@%s>, relay=mx.%s[%s]:25, delay=%.2f, "
                    "delays=0.05/0/0.2/0.4, dsn=2.0.0, status=sent (250 2.0.0 OK %s)" % (
                        ts, pid, q, u, d, d, ch(v6) if k < 0.97 else a, rnd.uniform(0.2, 9), q[:10]))
        else:
            d = ch(remote)
            st, dsn, txt = ch(fails)
            txt = txt.format(h="mx." + d, a=a, r="%s@%s" % (u, d), d=d)
            line = ("%s mx1 postfix/smtp[%d]: %s: to=<%s@%s>, relay=none, delay=%d, delays=0.1/0/30/0, dsn=%s, "
                    "status=%s (%s)" % (ts, pid, q, u, d, ri(30, 400000), dsn, st, txt))
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

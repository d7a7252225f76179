#!/usr/bin/env python3
"""Synthetic Postfix logs with known truth, one per scenario of the logs
rules' verdicts (tests/rules/test_logs_rules.py). Deterministic (seeded).

usage: gen_scenarios.py SCENARIO   -> the log on stdout
       gen_scenarios.py --list

Times are 2024-03-01 UTC ("Mar  1 HH:MM:SS"); read with --utc --now 2024-03-02T00:00:00Z."""
import random
import sys

BASE = 0  # seconds after 2024-03-01T00:00:00Z


class Log:
    def __init__(self, seed=1):
        self.lines = []
        self.rnd = random.Random(seed)
        self.qn = 0

    def qid(self):
        self.qn += 1
        return "%010X" % (0x1A2B000000 + self.qn * 7919)

    def ts(self, t):
        h, m, s = t // 3600, (t // 60) % 60, t % 60
        return "Mar  1 %02d:%02d:%02d" % (h, m, s)

    def add(self, t, prog, msg):
        self.lines.append((t, len(self.lines), "%s mail %s[%d]: %s" % (self.ts(t), prog, 1000 + len(self.lines) % 50, msg)))

    def addr(self, dom):
        return "192.0.2.%d" % (sum(dom.encode()) % 250 + 1)

    def sent(self, t, dom, user="u"):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<%s@%s>, relay=mx.%s[%s]:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.0.0, "
                 "status=sent (250 2.0.0 Ok: queued as 4Tq)" % (self.qid(), user, dom, dom, a))

    def timeout(self, t, dom, attempts=0, user="u"):
        a = self.addr(dom)
        for k in range(attempts):
            self.add(t - 30 * (attempts - k), "postfix/smtp",
                     "connect to mx.%s[%s]:25: Connection timed out" % (dom, a))
        self.add(t, "postfix/smtp", "%s: to=<%s@%s>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, "
                 "status=deferred (connect to mx.%s[%s]:25: Connection timed out)" % (self.qid(), user, dom, dom, a))

    def greeting_lost(self, t, dom):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=mx.%s[%s]:25, delay=300, dsn=4.4.2, status=deferred "
                 "(lost connection with mx.%s[%s] while receiving the initial server greeting)" % (self.qid(), dom, dom, a, dom, a))

    def nxdomain(self, t, dom):
        self.add(t, "postfix/smtp", "%s: to=<someone@%s>, relay=none, delay=0.1, delays=0/0/0.1/0, dsn=5.4.4, "
                 "status=bounced (Host or domain name not found. Name service error for name=%s type=MX: Host not found)"
                 % (self.qid(), dom, dom))

    def dns_tempfail(self, t, dom):
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=none, delay=5, dsn=4.4.3, status=deferred (Host or domain "
                 "name not found. Name service error for name=%s type=MX: Host not found, try again)" % (self.qid(), dom, dom))

    def rbl(self, t, dom):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=mx.%s[%s]:25, delay=1, dsn=5.7.1, status=bounced (host mx.%s[%s] "
                 "said: 554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org (in reply "
                 "to RCPT TO command))" % (self.qid(), dom, dom, a, dom, a))

    def ptr_reject(self, t, dom, gmail=False):
        a = self.addr(dom)
        if gmail:
            said = ("550-5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record setup, "
                    "or the corresponding forward DNS entry does not point to the sending IP. (in reply to end of "
                    "DATA command)")
        else:
            said = "450 4.7.25 Client host rejected: cannot find your hostname, [203.0.113.5] (in reply to RCPT TO command)"
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=mx.%s[%s]:25, delay=1, dsn=5.7.25, status=%s (host mx.%s[%s] "
                 "said: %s)" % (self.qid(), dom, dom, a, "bounced" if gmail else "deferred", dom, a, said))

    def no_such_user(self, t, dom):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<gone@%s>, relay=mx.%s[%s]:25, delay=1, dsn=5.0.0, status=bounced (host "
                 "mx.%s[%s] said: 554 delivery error: dd This user doesn't have a %s account (in reply to end of "
                 "DATA command))" % (self.qid(), dom, dom, a, dom, a, dom))

    def rejected(self, t, dom):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=mx.%s[%s]:25, delay=1, dsn=5.3.0, status=bounced (host "
                 "mx.%s[%s] said: 552 5.3.4 Message size exceeds fixed limit (in reply to end of DATA command))"
                 % (self.qid(), dom, dom, a, dom, a))

    def complaints(self, t, dom):
        a = self.addr(dom)
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=mta5.am0.yahoodns.example[%s]:25, delay=3, dsn=4.7.0, "
                 "status=deferred (host mta5.am0.yahoodns.example[%s] said: 421 4.7.0 [TSS04] Messages from "
                 "203.0.113.5 temporarily deferred due to user complaints - 4.16.55.1 (in reply to MAIL FROM command))"
                 % (self.qid(), dom, a, a))

    def throttled(self, t, dom):
        a = "142.250.1.%d" % (t % 200 + 1)
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=gmail-smtp-in.l.google.com[%s]:25, delay=2, dsn=4.7.28, "
                 "status=deferred (host gmail-smtp-in.l.google.com[%s] said: 421-4.7.28 [203.0.113.5] Our system has "
                 "detected an unusual rate of unsolicited mail originating from your IP address. To protect our users "
                 "from spam, mail sent from your IP address has been temporarily rate limited. (in reply to end of "
                 "DATA command))" % (self.qid(), dom, a, a))

    def v6_attempt(self, t, dom):
        self.add(t, "postfix/smtp", "connect to mx.%s[2001:db8::%x]:25: Network is unreachable" % (dom, sum(dom.encode())))

    def v6_deferred(self, t, dom):
        self.add(t, "postfix/smtp", "%s: to=<u@%s>, relay=none, delay=0.1, dsn=4.4.1, status=deferred (connect to "
                 "mx.%s[2001:db8::%x]:25: Network is unreachable)" % (self.qid(), dom, dom, sum(dom.encode())))

    def lmtp(self, t, user, ok=True):
        if ok:
            self.add(t, "postfix/lmtp", "%s: to=<%s@example.org>, relay=127.0.0.1[127.0.0.1]:24, delay=0.1, dsn=2.0.0, "
                     "status=sent (250 2.0.0 <%s@example.org> Saved)" % (self.qid(), user, user))
        else:
            self.add(t, "postfix/lmtp", "%s: to=<%s@example.org>, relay=127.0.0.1[127.0.0.1]:24, delay=0.1, dsn=4.2.2, "
                     "status=deferred (host 127.0.0.1[127.0.0.1] said: 452 4.2.2 Mailbox is full (in reply to end of "
                     "DATA command))" % (self.qid(), user))

    def text(self):
        return "".join(l + "\n" for _, _, l in sorted(self.lines))


DOMS = ["d%02d.example" % i for i in range(40)]


def webapp():
    """71 successes to 17 domains (the last inside the window), typo domains of large
    providers bouncing "Host not found", an IPv6 route problem: attempts over IPv6 fail
    (Network is unreachable) before IPv4 delivers, and one v6-only domain defers."""
    g = Log(2)
    good = ["gmail.com", "hotmail.com", "yahoo.com", "outlook.com"] + DOMS[:13]
    for i in range(71):
        t = 6 * 3600 + i * 600
        d = good[i % len(good)]
        if i % 5 == 0:
            g.v6_attempt(t - 1, d)
        g.sent(t, d)
    for k, d in enumerate(["hotmai.com", "homtail.com", "gmile.com", "tahoo.com", "hotmail.co", "2012gmail.com"]):
        for r in range(1 + k % 2):
            g.nxdomain(7 * 3600 + k * 1800 + r * 60, d)
    for i in range(4):
        g.v6_deferred(8 * 3600 + i * 3600, "v6only.example")
    return g


def intermittent():
    """20 domains, 1000 deliveries over 20 hours, 12% failing at random (timeouts,
    lost greetings), every domain's last delivery a success."""
    g = Log(3)
    doms = DOMS[:20]
    for i in range(1000):
        t = 2 * 3600 + i * 72
        d = doms[i % 20]
        last = i >= 980
        r = g.rnd.random()
        if not last and r < 0.08:
            g.timeout(t, d, attempts=1)
        elif not last and r < 0.12:
            g.greeting_lost(t, d)
        else:
            g.sent(t, d)
    return g


def attempts():
    """10 recipients deferred after timeouts, each outcome preceded by two
    attempt lines; 5 successes elsewhere."""
    g = Log(4)
    for i in range(10):
        g.timeout(10 * 3600 + i * 300, "slow.example", attempts=2, user="u%d" % i)
    for i in range(5):
        g.sent(10 * 3600 + i * 600 + 7, DOMS[i])
    return g


def only_one_fails():
    """One destination fails; no delivery to any other remote server."""
    g = Log(5)
    for i in range(6):
        g.timeout(9 * 3600 + i * 900, "down.example", attempts=1)
    return g


def nothing_succeeds():
    """Several destinations fail, not one delivery succeeded."""
    g = Log(6)
    for i in range(30):
        g.timeout(9 * 3600 + i * 300, DOMS[i % 8], attempts=1)
    return g


def each_own_reason():
    """No success; broken-ns.example's name servers fail (2), yahoo.com.mx (a real provider domain that
    looks like yahoo.com.br) defers us for complaints (1): no cause shared by two destinations."""
    g = Log(19)
    g.dns_tempfail(9 * 3600, "broken-ns.example")
    g.dns_tempfail(9 * 3600 + 60, "broken-ns.example")
    g.complaints(9 * 3600 + 30, "yahoo.com.mx")
    return g


def blocked_mixed():
    """No success; one destination times out, the other's last address is IPv6 and unreachable:
    connection failures both, one kind (a blocked port 25 looks like this)."""
    g = Log(20)
    g.timeout(9 * 3600, "a.example", attempts=1)
    g.v6_deferred(9 * 3600 + 60, "b.example")
    return g


def complained():
    """Two large receivers defer us for complaints (Yahoo's [TSS04]) while others accept: our reputation."""
    g = Log(21)
    for i in range(20):
        g.sent(8 * 3600 + i * 300, DOMS[i % 6])
    for i in range(6):
        g.complaints(9 * 3600 + i * 600, ("ymail.example", "rocketmail.example")[i % 2])
    return g


def no_remote():
    """Local deliveries only (LMTP), some failing: no remote delivery at all."""
    g = Log(7)
    for i in range(143):
        g.lmtp(3600 + i * 300, "user%d" % (i % 9), ok=i % 20 != 0)
    return g


def ranking():
    """busy.example: 2 failures among 32 successes; dead.example: 3 failures, no
    success; others succeed."""
    g = Log(8)
    for i in range(32):
        g.sent(3600 + i * 600, "busy.example")
    g.timeout(5 * 3600, "busy.example")
    g.timeout(7 * 3600, "busy.example")
    for i in range(3):
        g.timeout(4 * 3600 + i * 3600, "dead.example")
    for i in range(20):
        g.sent(3600 + i * 900 + 5, DOMS[i % 10])
    return g


def cutover():
    """12 domains deliver from 08:00; from 12:00:00 on every delivery times out."""
    g = Log(9)
    for i in range(240):
        t = 8 * 3600 + i * 120
        d = DOMS[i % 12]
        if t < 12 * 3600:
            g.sent(t, d)
        else:
            g.timeout(t, d, attempts=1)
    return g


def their_side():
    """One broken destination times out all day; 15 others accept to the end."""
    g = Log(10)
    for i in range(150):
        g.sent(3600 + i * 500, DOMS[i % 15])
    for i in range(12):
        g.timeout(2 * 3600 + i * 3600, "broken.example", attempts=1)
    return g


def blocklisted():
    """Several receivers reject our IP naming a blocklist; a few accept."""
    g = Log(11)
    for i in range(20):
        g.rbl(4 * 3600 + i * 600, DOMS[i % 6])
    for i in range(5):
        g.sent(4 * 3600 + i * 600 + 30, DOMS[10 + i])
    return g


def identity():
    """Two receivers refuse our IP for its missing reverse DNS (Gmail's 5.7.25
    after DATA, a Postfix reject_unknown_client_hostname); others accept; one
    recipient unknown (after DATA, as Yahoo says it) is no verdict of ours."""
    g = Log(15)
    for i in range(8):
        g.ptr_reject(6 * 3600 + i * 600, "gmail.example", gmail=True)
        g.ptr_reject(6 * 3600 + i * 600 + 60, "strict.example")
    for i in range(10):
        g.sent(6 * 3600 + i * 300 + 30, DOMS[i])
    g.no_such_user(6 * 3600 + 90, "yahoo.example")
    return g


def two_fail_before():
    """Two destinations fail, the lower-ranked one first (at 02:00); every
    success was logged before either began."""
    g = Log(16)
    for i in range(20):
        g.sent(3600 + i * 120, DOMS[i % 6])
    g.rejected(2 * 3600, "early.example")
    for i in range(5):
        g.timeout(3 * 3600 + i * 600, "late.example")
    return g


def recipients_only():
    """Nothing but recipients' own failures (an unknown user, a domain that does
    not exist), no success at all, and one success to one domain in
    one_success_more (the verdict's grammar)."""
    g = Log(17)
    g.no_such_user(7 * 3600, "bigmail.example")
    g.nxdomain(7 * 3600 + 60, "no-such-domain.example")
    return g


def one_other_accepts():
    """One destination times out; one other domain accepts, after."""
    g = Log(18)
    for i in range(3):
        g.timeout(3600 + i * 600, "broken.example")
    g.sent(3 * 3600, DOMS[0])
    return g


def recipient_first():
    """An unknown user bounces at 01:00; from 02:00 two destinations time out
    and nothing succeeds: the verdict is since 02:00, not 01:00."""
    g = Log(19)
    g.no_such_user(3600, "bigmail.example")
    for i in range(3):
        g.timeout(2 * 3600 + i * 600, "a.example")
        g.timeout(2 * 3600 + i * 600 + 60, "b.example")
    return g


def dns_kinds():
    """A temporary lookup failure (try again) beside a permanent one (Host not found)."""
    g = Log(12)
    for i in range(4):
        g.dns_tempfail(5 * 3600 + i * 600, "flaky-dns.example")
    for i in range(3):
        g.nxdomain(5 * 3600 + i * 600 + 30, "no-such-domain.example")
    for i in range(10):
        g.sent(5 * 3600 + i * 300 + 60, DOMS[i])
    return g


def local_and_remote():
    """Local deliveries failing (mailbox full) next to healthy remote delivery."""
    g = Log(13)
    for i in range(30):
        g.sent(3600 + i * 600, DOMS[i % 10])
    for i in range(10):
        g.lmtp(3600 + i * 900 + 11, "full", ok=False)
    return g


def throttled():
    """Gmail defers with its 421 4.7.28 rate-limit reply between successes; the
    other domains accept; one unrelated timeout."""
    g = Log(14)
    for i in range(60):
        t = 3600 + i * 600
        if i % 4 == 1:
            g.throttled(t, "gmail.com")
        else:
            g.sent(t, "gmail.com" if i % 2 == 0 else DOMS[i % 7])
    g.timeout(5 * 3600 + 13, "slow.example")
    return g


SCENARIOS = {f.__name__: f for f in (webapp, throttled, intermittent, attempts, only_one_fails, nothing_succeeds, each_own_reason, blocked_mixed, complained, no_remote,
                                     ranking, cutover, their_side, blocklisted, identity, two_fail_before, recipients_only,
                                     one_other_accepts, recipient_first, dns_kinds,
                                     local_and_remote)}

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--list":
        print("\n".join(SCENARIOS))
    else:
        sys.stdout.write(SCENARIOS[sys.argv[1]]().text())

#!/usr/bin/env python3
"""One connection per address and check, over loopback (no lab needed):
- a full check of a listening SMTP server opens exactly one connection (the
  tcp rule's probe carries the smtp rule's dialogue);
- --only tcp opens one (the smtp rule does not run; the tcp rule releases it);
- a 421 greeting saying "too many connections" (Postfix anvil's text) is
  smtp.rate_limited and delivery.delayed (warn), never delivery.none;
- a 421 greeting without such words stays smtp.greeting_tempfail."""
import json, os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import run, SmtpListener

mx = sys.argv[1]
failures = []


class Counting(SmtpListener):
    """SmtpListener that counts accepted connections and notes when each closes."""
    def __init__(self, **kw):
        self.accepted, self.closed_at, self.lock = 0, [], threading.Lock()
        super().__init__(**kw)

    def _serve(self, c):
        with self.lock:
            self.accepted += 1
        try:
            super()._serve(c)
        finally:
            with self.lock:
                self.closed_at.append(time.monotonic())


def check(target, *extra):
    p = run(mx, "check", target, "--timeout", "3", "--json", *extra, check_rc=(0, 1, 2, 3))
    doc = json.loads(p.stdout)
    return p.returncode, [f["code"] for f in doc["findings"]], doc


def expect(name, cond, detail):
    if not cond:
        failures.append("%s: %s" % (name, detail))
    else:
        print("ok: %s" % name)


# 1. a full check: one connection in all, greeted, TLS not offered
srv = Counting()
rc, codes, _ = check("127.0.0.1:%d" % srv.port)
time.sleep(0.2)
expect("full check, one connection", srv.accepted == 1 and "smtp.greeting_ok" in codes and "delivery.ok" in codes,
       "%d connections, codes %s" % (srv.accepted, codes))

# 2. --only tcp: one connection
srv = Counting()
rc, codes, _ = check("127.0.0.1:%d" % srv.port, "--only", "tcp")
time.sleep(0.2)
expect("--only tcp, one connection", srv.accepted == 1 and codes.count("tcp.connected") == 1,
       "%d connections, codes %s" % (srv.accepted, codes))

# 3. Postfix anvil's 421: rate-limited, delayed not lost
anvil = Counting(greeting=b"421 4.7.0 mx.test Error: too many connections from 127.0.0.1\r\n")
rc, codes, doc = check("127.0.0.1:%d" % anvil.port)
rl = [f for f in doc["findings"] if f["code"] == "smtp.rate_limited"]
expect("421 too many connections -> smtp.rate_limited, delivery.delayed",
       rc == 1 and rl and rl[0]["severity"] == "warn" and "delivery.delayed" in codes
       and "delivery.none" not in codes and "smtp.greeting_tempfail" not in codes
       and "rate-limited (by connections from your address)" in rl[0]["summary"]
       and "too many connections from 127.0.0.1" in rl[0]["summary"] and anvil.accepted == 1,
       "exit %d, codes %s, %d connections" % (rc, codes, anvil.accepted))

# 4. a 421 that does not speak of connections (maintenance, greylisting): a plain
# tempfail, and (issue 19) the delivery verdict is "delayed" (WARNING, exit 1),
# never delivery.none "cannot be delivered" (CRITICAL)
busy = Counting(greeting=b"421 4.3.2 mx.test Service shutting down, try again later\r\n")
rc, codes, _ = check("127.0.0.1:%d" % busy.port)
expect("421 without rate words -> smtp.greeting_tempfail, delivery.delayed, exit 1",
       rc == 1 and "smtp.greeting_tempfail" in codes and "smtp.rate_limited" not in codes
       and "delivery.delayed" in codes and "delivery.none" not in codes,
       "exit %d, codes %s" % (rc, codes))

if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print("ok")

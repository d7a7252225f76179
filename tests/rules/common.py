"""Helpers shared by the tests/rules scripts: run mxdiag, loopback listeners."""
import json, os, socket, subprocess, threading

def run(mx, *args, check_rc=None, timeout=120):
    env = dict(os.environ)
    env.pop("MXDIAG_RULES_PATH", None)
    env["NO_COLOR"] = "1"
    p = subprocess.run([mx, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc is not None and p.returncode not in check_rc:
        raise SystemExit("mxdiag %s: exit %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p

def closed_port():
    """A loopback TCP port nobody listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

class SmtpListener:
    """A tiny SMTP server on 127.0.0.1: greeting, EHLO, anything else 250, QUIT."""
    def __init__(self, greeting=b"220 mx.test ESMTP ready\r\n"):
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = c.makefile("rwb")
        try:
            f.write(self.greeting); f.flush()
            if not self.greeting.startswith(b"220"):
                return
            for line in f:
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    f.write(b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n")
                elif cmd.startswith(b"QUIT"):
                    f.write(b"221 2.0.0 bye\r\n"); f.flush()
                    break
                else:
                    f.write(b"250 2.0.0 ok\r\n")
                f.flush()
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()

def findings(doc, rules=None, exclude=None):
    return [f for f in doc["findings"]
            if (rules is None or f["rule"] in rules) and (exclude is None or f["rule"] not in exclude)]


class Checks:
    """A test script's checks: check(ok, what, p=None) prints "ok" or "FAIL"
    (and p's output when it failed); check.fails counts the failures."""

    def __init__(self):
        self.fails = 0

    def __call__(self, ok, what, p=None):
        if ok:
            print("ok  ", what)
            return
        self.fails += 1
        print("FAIL", what)
        if p is not None:
            print("stdout:", p.stdout[-3000:], "\nstderr:", p.stderr[-3000:])


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)

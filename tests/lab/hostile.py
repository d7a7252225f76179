#!/usr/bin/env python3
"""Hostile SMTP peers for the mxdiag lab (stdlib only, asyncio).

One behaviour per listening address (port 25), all inside netns mxlab:

  203.0.113.1  endless   "220-..." continuation lines forever (server stops
                         after 64 MiB or 120 s, whichever first)
  203.0.113.2  longline  "220 " + 1 MiB without CR/LF, then holds the
                         connection open (max 120 s)
  203.0.113.3  binary    64 KiB of fixed pseudo-random bytes (incl. NUL, 0xFF,
                         bare CR/LF), then holds the connection (max 120 s)
  203.0.113.4  slow      greeting only after 60 s, then a tiny normal SMTP
  203.0.113.5  close     "220-part" and closes mid-reply
  203.0.113.6  badtls    normal greeting, EHLO offers STARTTLS, after
                         "220 Ready to start TLS" it sends garbage, not TLS
  (none)       plain     a polite tiny SMTP server (used by the traceroute MX)

usage: hostile.py [--bind BEHAVIOUR=ADDR ...] [--port 25]
(any --bind replaces the default set)
Every connection is bounded in time (MAX_CONN_SECONDS) and in bytes.
"""
import argparse, asyncio, os, random, signal, sys, time

MAX_CONN_SECONDS = 120
ENDLESS_MAX_BYTES = 64 * 1024 * 1024
DEFAULTS = {
    "endless": "203.0.113.1",
    "longline": "203.0.113.2",
    "binary": "203.0.113.3",
    "slow": "203.0.113.4",
    "close": "203.0.113.5",
    "badtls": "203.0.113.6",
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


async def hold(reader, seconds):
    """Keep the connection open until the peer closes or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(4096), deadline - time.monotonic())
        except asyncio.TimeoutError:
            return
        if not data:
            return


async def mini_smtp(name, reader, writer, starttls_garbage=False):
    """Tiny command loop: EHLO/HELO/NOOP/RSET/QUIT/STARTTLS, bounded."""
    deadline = time.monotonic() + MAX_CONN_SECONDS
    for _ in range(100):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            line = await asyncio.wait_for(reader.readline(), left)
        except (asyncio.TimeoutError, ValueError):
            return
        if not line:
            return
        cmd = line.strip().split(b" ")[0].upper()
        if cmd == b"EHLO":
            writer.write(b"250-%s.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                         % name.encode())
        elif cmd == b"HELO":
            writer.write(b"250 %s.test\r\n" % name.encode())
        elif cmd == b"STARTTLS" and starttls_garbage:
            writer.write(b"220 2.0.0 Ready to start TLS\r\n")
            await writer.drain()
            rnd = random.Random(6)
            writer.write(b"this is not a TLS ServerHello\r\n" + bytes(rnd.randrange(256) for _ in range(512)))
            await writer.drain()
            await hold(reader, 10)
            return
        elif cmd == b"STARTTLS":
            writer.write(b"454 4.7.0 TLS not available\r\n")
        elif cmd == b"QUIT":
            writer.write(b"221 2.0.0 Bye\r\n")
            await writer.drain()
            return
        elif cmd in (b"NOOP", b"RSET"):
            writer.write(b"250 2.0.0 Ok\r\n")
        else:
            writer.write(b"502 5.5.2 Error: command not recognized\r\n")
        await writer.drain()


async def endless(reader, writer):
    sent, start = 0, time.monotonic()
    chunk = b"".join(b"220-mx.hostile-endless.test keeps talking %06d\r\n" % i for i in range(256))
    while sent < ENDLESS_MAX_BYTES and time.monotonic() - start < MAX_CONN_SECONDS:
        writer.write(chunk)
        await asyncio.wait_for(writer.drain(), MAX_CONN_SECONDS)
        sent += len(chunk)
    log("endless: stopped after", sent, "bytes")


async def longline(reader, writer):
    writer.write(b"220 " + b"A" * (1024 * 1024))
    await asyncio.wait_for(writer.drain(), MAX_CONN_SECONDS)
    await hold(reader, MAX_CONN_SECONDS)


async def binary(reader, writer):
    rnd = random.Random(3)
    data = bytes(rnd.randrange(256) for _ in range(64 * 1024))
    writer.write(b"\x00\xff\xfe\r\n\x1b[31m" + data)
    await asyncio.wait_for(writer.drain(), MAX_CONN_SECONDS)
    await hold(reader, MAX_CONN_SECONDS)


async def slow(reader, writer):
    await asyncio.sleep(60)
    writer.write(b"220 mx.hostile-slow.test ESMTP finally awake\r\n")
    await writer.drain()
    await mini_smtp("mx.hostile-slow", reader, writer)


async def close(reader, writer):
    writer.write(b"220-part")
    await writer.drain()


async def plain(reader, writer):
    writer.write(b"220 mx.trace.test ESMTP mxdiag-lab\r\n")
    await writer.drain()
    await mini_smtp("mx.trace", reader, writer)


async def badtls(reader, writer):
    writer.write(b"220 mx.hostile-badtls.test ESMTP\r\n")
    await writer.drain()
    await mini_smtp("mx.hostile-badtls", reader, writer, starttls_garbage=True)


BEHAVIOURS = {"endless": endless, "longline": longline, "binary": binary,
              "slow": slow, "close": close, "badtls": badtls, "plain": plain}


def handler(kind):
    async def run(reader, writer):
        peer = writer.get_extra_info("peername")
        log(kind, "connection from", peer)
        try:
            await asyncio.wait_for(BEHAVIOURS[kind](reader, writer), MAX_CONN_SECONDS + 5)
        except (asyncio.TimeoutError, ConnectionError, OSError) as e:
            log(kind, "ended:", type(e).__name__)
        finally:
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 5)
            except Exception:
                pass
    return run


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", action="append", default=[], help="behaviour=address")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    binds = list(DEFAULTS.items())
    if args.bind:
        binds = [tuple(b.split("=", 1)) for b in args.bind]
    for k, _ in binds:
        if k not in BEHAVIOURS:
            sys.exit("unknown behaviour " + k)
    servers = []
    for kind, addr in binds:
        servers.append(await asyncio.start_server(handler(kind), addr, args.port, reuse_address=True,
                                                  limit=4096))
        log("listening", kind, addr, args.port)
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())

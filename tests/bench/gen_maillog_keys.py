#!/usr/bin/env python3
"""Generate a Postfix log that makes `mxdiag logs` hold the most memory per
group, for the peak RSS figure of tests/bench/logs (shape `keys`).

4200 recipient domains (more than the 2048 first seen plus the 1024 late
failing ones that the aggregation keeps apart) and as many remote addresses
(2001:db8::/32), every delivery deferred as refused: in each round every
domain gets a new recipient at another address, so that after 64 rounds
every group's distinct sets are full (the most a set holds before it becomes
a fixed-size estimate) and every address was hit by 64 domains.  One cause:
then each cause x domain (address) pair holds 64 messages too (six causes
spread them over six times fewer keys: 7 MB less at the peak).
Rounds go on (the same groups, estimates by then) until SIZE_MB is written.

usage: gen_maillog_keys.py SIZE_MB > mail.log
"""
import sys

TEXT = "connect to mx.d%d.test[%s]:25: Connection refused"


def main():
    size = int(float(sys.argv[1]) * 1024 * 1024)
    n, written, q, j = 4200, 0, 0, 0
    out = sys.stdout
    while written < size:
        for d in range(n):
            q += 1
            a = (d + j * 67) % n
            addr = "2001:db8:%x::%x" % (a // 256, a % 256 + 1)
            line = ("Mar  1 %02d:%02d:%02d mail postfix/smtp[4242]: %010X: to=<u%d@d%d.test>, "
                    "relay=mx.d%d.test[%s]:25, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (%s)\n" % (
                        q // 3600 % 24, q // 60 % 60, q % 60, q, j, d, d, addr, TEXT % (d, addr)))
            out.write(line)
            written += len(line)
            if written >= size:
                break
        j += 1


if __name__ == "__main__":
    main()

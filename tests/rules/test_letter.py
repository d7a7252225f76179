#!/usr/bin/env python3
"""check --letter over recordings of the lab (issue 19 point 7: letters only when they help).

- 554 greeting: addressed to postmaster@, UTC time, our source address, their MX, the exact 554
  text, facts not established said to be unknown; since their only MX refuses us, a note above
  the letter names other channels (website, whois contacts).
- the problem is ours (our sender address blocklisted; outbound port 25 blocked): no letter, why.
- every MX fails on port 25 and no control host says whose side blocks: no letter yet, how to tell.
- nobody to write to (NXDOMAIN, null MX): no letter, why.
- no failure found (healthy): no letter, why.
- a backup MX still accepts mail: a letter, without the other-channel note; its subject and first
  paragraph say what happens to the mail as the delivery rule concluded: "cannot be delivered"
  only with delivery.none, "is being delayed" with delivery.delayed, "some connections to your
  mail servers fail" (the mail can still arrive) with delivery.ok or delivery.backup_only.
- only addresses of a family this host has no route for fail (tcp.family_fails remedy_side
  "sender"): the problem is ours, no letter; the receiver's IPv6 dropping port 25: a letter.
- never a finding code ("[tcp.refused]", "dnsbl.listed") in any of it.
Replays are deterministic: the same recording gives the same text twice."""
import os, re, subprocess, sys

mx, src = sys.argv[1], sys.argv[2]
env = dict(os.environ, MXDIAG_RULES_PATH="", NO_COLOR="1")
shipped = os.path.join(src, "tests", "rules", "shipped")
letters = os.path.join(src, "tests", "rules", "letters")
# a finding code as rules write them: two or more dotted lower-case words
CODE = re.compile(r"\b(?:tcp|smtp|tls|mx|dns|dnsbl|delivery|outbound|path|local|source|ptr|host|expect)\.[a-z_0-9]+(?![.\w-])")
failures = []


def letter(rec, extra=()):
    p = subprocess.run([mx, "check", "--replay", rec, "--letter", *extra], capture_output=True, text=True, env=env)
    again = subprocess.run([mx, "check", "--replay", rec, "--letter", *extra], capture_output=True, text=True, env=env)
    if again.stdout != p.stdout:
        failures.append("%s: the letter of a replay changed between two runs" % rec)
    return p.stdout


def case(name, rec, has=(), lacks=(), extra=()):
    out = letter(rec, extra)
    print("=== %s\n%s" % (name, out))
    for want in has:
        if want not in out:
            failures.append("%s: lacks %r" % (name, want))
    for bad in lacks:
        if bad in out:
            failures.append("%s: must not contain %r" % (name, bad))
    codes = CODE.findall(out)
    if codes:
        failures.append("%s: internal finding codes in the text: %s" % (name, codes))
    return out


# the lab's connections go out from the MX address itself: as if from elsewhere, 198.51.100.7
import json, tempfile
# (the connect's "source", and the connection name "ADDRESS:PORT/SOURCE#N" of the dialogue)
text = open(os.path.join(shipped, "reject554", "recording.json")).read()
text = text.replace('"source": "192.0.2.30"', '"source": "198.51.100.7"').replace(":25/192.0.2.30#", ":25/198.51.100.7#")
moved = os.path.join(tempfile.mkdtemp(prefix="mxdiag-letter-"), "reject554-from-elsewhere.json")
open(moved, "w").write(text)
case("reject554", moved,
     has=("To: postmaster@reject554.test", "Time of the test (UTC): 20",
          "Our sending addresses\n  198.51.100.7\n    reverse DNS (PTR): unknown", "blocklists: unknown",
          "MX 10 mx.reject554.test: 192.0.2.30",
          "554 5.7.1", "Since when", "unknown (our mail logs",
          # their only MX refuses us: postmaster@ goes there too
          "Note for you, not part of the letter", "another\n channel", "whois reject554.test", "https://reject554.test/",
          "whois 192.0.2.30"),
     lacks=("[smtp.", "[tcp.", "(no failure observed)", "No letter"))
# as recorded: the local address of each connection is their MX address, not one of ours
case("reject554, their address as source", os.path.join(shipped, "reject554", "recording.json"),
     has=("Our sending addresses\n  unknown (the connections went out from addresses of your own servers)",),
     lacks=("Our sending addresses\n  192.0.2.30",))
# every MX refuses port 25 and no control host was asked: a block on our side looks the same
for name, how in (("refused", "refuses on port 25"), ("dropped", "times out on port 25")):
    case(name, os.path.join(shipped, name, "recording.json"),
         has=("No letter to postmaster@%s.test yet: whose side blocks is not known" % name, how,
              "--control HOST", "the block is ours"),
         lacks=("To: ", "Subject:", "at your servers' addresses", "[tcp."))
case("backup", os.path.join(shipped, "backup", "recording.json"),
     # recorded in the lab, where each connection's local address is the MX address itself:
     # their addresses are not listed as ours
     has=("To: postmaster@backup.test", "MX 20 mx2.backup.test",
          "Our sending addresses\n  unknown (the connections went out from addresses of your own servers)",
          # the backup accepts: the mail arrives, so the letter must not say it does not
          "Subject: Mail to backup.test from our servers: some connections to your mail servers fail",
          "others are accepted: our mail can still\narrive"),
     lacks=("Note for you", "No letter", "cannot be delivered", "is not being delivered"))
case("their IPv6 drops", os.path.join(shipped, "v6drop", "recording.json"),
     has=("To: postmaster@v6drop.test", "[2001:db8::38]:25 did not answer", "some connections to your mail servers fail"),
     lacks=("No letter", "cannot be delivered", "is not being delivered"))
for name in ("tempfail421", "ratelimited"):
    out = case(name, os.path.join(shipped, name, "recording.json"),
               has=("Subject: Mail to %s.test from our servers is being delayed" % name, "is being delayed",
                    "temporary refusal"),
               lacks=("No letter", "cannot be delivered", "is not being delivered"))
    # a connection limit counts our own connections: ask for the limit, not for a block to be lifted
    limited = name == "ratelimited"
    if ("lift the block" in out) == limited or ("tell us the limit" in out) != limited:
        failures.append("%s: the reason for writing does not fit a %s" % (name, "rate limit" if limited else "4xx"))
# the delivery rule left out (skip recorded): no conclusion to state, so neither "cannot be
# delivered" nor "others accept it"
doc = json.load(open(os.path.join(shipped, "reject554", "recording.json")))
doc["skip"] = "delivery"
nodeliv = os.path.join(tempfile.mkdtemp(prefix="mxdiag-letter-"), "reject554-skip-delivery.json")
json.dump(doc, open(nodeliv, "w"))
case("reject554, delivery skipped", nodeliv,
     has=("Subject: Mail to reject554.test from our servers: failures at your mail servers", "554 5.7.1"),
     lacks=("cannot be delivered", "is not being delivered", "can still\narrive", "others are accepted"))
case("reject554, subject", os.path.join(shipped, "reject554", "recording.json"),
     has=("Subject: Mail to reject554.test cannot be delivered from our servers", "is not being delivered"))
case("nxdomain", os.path.join(shipped, "nonexistent", "recording.json"),
     has=("No letter to postmaster@nonexistent.test: there is nobody to write to", "does not exist (the DNS answers NXDOMAIN)"),
     lacks=("To: ", "Subject:", "Hello"))
case("nullmx", os.path.join(shipped, "nullmx", "recording.json"),
     has=("No letter to postmaster@nullmx.test: there is nobody to write to", "null MX (RFC 7505)"),
     lacks=("To: ", "Subject:", "Hello"))
case("healthy", os.path.join(shipped, "healthy", "recording.json"),
     has=("No letter to postmaster@healthy.test: this check found no failure",),
     lacks=("To: ", "Subject:", "(no failure observed)"))
# our host has no IPv6 route (remedy_side "sender"), IPv4 works: the problem is ours, no letter
case("no IPv6 route here", os.path.join(shipped, "v6noroute", "recording.json"),
     has=("No letter to postmaster@v6noroute.test: the problem is on our side",
          "port 25 fails over IPv6", "no IPv6 route", "the receiver can do nothing"),
     lacks=("To: ", "Subject:", "at your servers' addresses"))
# the same, but their IPv4 address refuses us at the greeting (554): a letter about that, without
# our missing IPv6 route among "the failures above happen at your servers' addresses"
doc = json.load(open(os.path.join(shipped, "v6noroute", "recording.json")))
greet = [c for c in doc["calls"] if c.get("call") == "net.read_reply" and c["result"].get("code") == 220]
if not greet:
    failures.append("v6noroute recording: no 220 greeting to turn into a 554")
else:
    greet[0]["result"].update(code=554, enhanced="5.7.1", lines=["5.7.1 Access denied"], text="5.7.1 Access denied")
mixed = os.path.join(tempfile.mkdtemp(prefix="mxdiag-letter-"), "v6noroute-554.json")
json.dump(doc, open(mixed, "w"))
case("no IPv6 route here, IPv4 refuses", mixed,
     has=("To: postmaster@v6noroute.test", "554 5.7.1 Access denied", "  2001:db8:ffff::25\n"),
     lacks=("No letter", "no route from this host", "Network is unreachable", "fails over IPv6"))
# only the blocklist rule ran: no server of theirs was tested, so "every server tested accepted" is hollow
case("no server tested", os.path.join(shipped, "dnsblnone", "recording.json"),
     has=("No letter to postmaster@healthy.test: this check tested none of their mail servers",),
     lacks=("To: ", "Subject:", "accepted the connection"))
# a site rule about our own smarthost (192.0.2.21, refused) is not news for their postmaster
contrib = os.path.join(src, "contrib", "rules")
case("our relay down", os.path.join(contrib, "tests", "relay-down", "recording.json"),
     extra=("--rules-dir", contrib),
     has=("To: postmaster@healthy.test", "MX 10 mx.healthy.test"),
     lacks=("smarthost", "  192.0.2.21\n"))
# recorded in the lab: check --sender-ip 198.51.100.1 reject554.test (on Spamhaus ZEN and UCEPROTECT 1)
case("listed sender", os.path.join(letters, "listed-sender.json"),
     has=("No letter to postmaster@reject554.test: the problem is on our side",
          "198.51.100.1 is listed on Spamhaus ZEN", "198.51.100.1 is listed on UCEPROTECT Level 1",
          "removal: https://check.spamhaus.org/", "request removal"),
     lacks=("To: ", "Subject:", "Other observations"))
# recorded in the lab with `lab out25 block`: check --control mx.healthy.test --skip path dropped.test
case("outbound blocked", os.path.join(letters, "out25-blocked.json"),
     has=("No letter to postmaster@dropped.test: the problem is on our side",
          "Outbound port 25 is blocked on your side", "smarthost on port 587"),
     lacks=("To: ", "Subject:"))

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")

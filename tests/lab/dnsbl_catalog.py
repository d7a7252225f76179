#!/usr/bin/env python3
"""Lab test: the blocklist catalog as the operators define it (issue 18).

usage: dnsbl_catalog.py MXDIAG LAB
Runs full checks (every default rule) inside the lab and asserts on the
findings' severities, advice and evidence, which cases.txt cannot express:
  pbl_sender   --sender-ip 198.51.100.11 (ZEN 127.0.0.11, PBL): dnsbl.listed crit,
               a policy listing with smarthost/removal advice, never "compromised"
  pbl_mx       pblmx.test (its MX address is on the PBL): dnsbl.mx_listed info,
               evidence policy, no dnsbl.listed
  blocked      --resolver 127.0.0.3 (every DNSBL answer 127.255.255.254):
               dnsbl.unreliable naming your own resolver and Spamhaus DQS/--dnsbl-key
  mixed        --sender-ip 198.51.100.12 (127.0.0.2 and the undocumented 127.0.0.99):
               dnsbl.listed for SBL, the unknown code named, not "undocumented"
  ipv6_points  --sender-ip 2001:db8::bad with --record: ZEN's IPv6 trust rests on
               ::ffff:7f00:2/::ffff:7f00:1 asked as 32 nibbles; with the blocked
               resolver the IPv6 sender is not checked (IPv6 test failed)
  dead_zone    --dnsbl-zone dead.lab.test (answers 127.0.0.1 for everything):
               dnsbl.unreliable citing RFC 5782, never dnsbl.listed
  dqs_key      --dnsbl-key KEY through the blocked resolver: ZEN/DBL asked on the
               DQS zones and listed; the key appears in no output, trace or recording
Exit 0 pass, 1 fail, 77 skip (as the lab decides)."""
import json, os, re, subprocess, sys, tempfile

KEY = "labdqskey0123456789abcdef"  # tests/lab/lab DQS_KEY
MAPPED = "0.0.0.f.7.f.f.f.f." + "0." * 20  # ::ffff:7f00:x, nibbles after the last one
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def run(mxdiag, lab, args, record=None, trace=False):
    cmd = [lab, "exec", mxdiag, "check", "--allow-reserved", "--timeout", "3"] + args + ["--json"]
    if record:
        cmd[4:4] = ["--record", record]
    if trace:
        cmd[4:4] = ["--trace"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    return p, doc


def findings(doc, code):
    return [f for f in (doc or {}).get("findings", []) if f.get("code") == code]


def main():
    mxdiag, lab = sys.argv[1], sys.argv[2]
    chk = subprocess.run([lab, "check"], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.stdout.write(chk.stdout or chk.stderr)
        return chk.returncode
    failed = []

    def case(name, ok, why, p=None):
        if ok:
            print("PASS dnsbl_catalog.%s" % name)
        else:
            failed.append(name)
            print("FAIL dnsbl_catalog.%s: %s" % (name, why))
            if p is not None:
                print(p.stdout[-4000:], p.stderr[-2000:])

    # 1. PBL for a direct-to-MX sender: crit, a policy listing, smarthost advice
    p, doc = run(mxdiag, lab, ["--sender-ip", "198.51.100.11", "healthy.test"])
    zen = [f for f in findings(doc, "dnsbl.listed") if f["evidence"].get("list") == "Spamhaus ZEN"]
    f = zen[0] if zen else {}
    case("pbl_sender",
         len(zen) == 1 and f["severity"] == "crit" and f["evidence"].get("policy") is True
         and "127.0.0.11" in f["evidence"].get("code", "") and "smarthost" in f.get("advice", "")
         and "removed from the PBL" in f.get("advice", "") and "compromised" not in f.get("advice", "")
         and p.returncode == 2,
         "want one crit ZEN PBL listing with smarthost/removal advice (exit 2), got %r exit %d"
         % (zen, p.returncode), p)

    # 2. PBL on the recipient's MX: information, not a sender problem
    p, doc = run(mxdiag, lab, ["pblmx.test"])
    # (UCEPROTECT 2 lists the whole lab /24 as well: only ZEN's PBL listing is looked at)
    mxl = [f for f in findings(doc, "dnsbl.mx_listed") if f["evidence"].get("list") == "Spamhaus ZEN"]
    case("pbl_mx",
         len(mxl) == 1 and mxl[0]["severity"] == "info" and mxl[0]["evidence"].get("policy") is True
         and mxl[0]["evidence"].get("address") == "198.51.100.11" and not findings(doc, "dnsbl.listed")
         and "compromised" not in mxl[0].get("explanation", ""),
         "want one info ZEN dnsbl.mx_listed with evidence policy and no dnsbl.listed, got %r" % mxl, p)

    def unreliable_for(doc, name):
        """dnsbl.unreliable about list `name`: its own finding, or its part of
        the grouped one (several lists failing their test points: evidence
        `details`, issue 19)."""
        out = []
        for f in findings(doc, "dnsbl.unreliable"):
            ev = f["evidence"]
            if ev.get("list") == name:
                out.append(f)
            for d in ev.get("details", []):
                if d.get("list") == name:
                    out.append(dict(f, evidence=d))
        return out

    # 3. a resolver Spamhaus refuses (127.255.255.254): own resolver AND DQS
    p, doc = run(mxdiag, lab, ["--resolver", "127.0.0.3", "--sender-ip", "198.51.100.1", "healthy.test"])
    unrel = unreliable_for(doc, "Spamhaus ZEN")
    text = " ".join(f.get("summary", "") + " " + f.get("advice", "") + " " + f.get("explanation", "") for f in unrel)
    case("blocked",
         bool(unrel) and "DQS" in text and "--dnsbl-key" in text and "own" in text
         and "reverse DNS" in text and not findings(doc, "dnsbl.listed"),
         "want dnsbl.unreliable for ZEN naming own resolver, reverse DNS, DQS and --dnsbl-key, got %r" % unrel, p)

    # 4. a documented code next to an undocumented one: the listing, with the unknown code named
    p, doc = run(mxdiag, lab, ["--sender-ip", "198.51.100.12", "healthy.test"])
    zen = [f for f in findings(doc, "dnsbl.listed") if f["evidence"].get("list") == "Spamhaus ZEN"]
    und = [f for f in findings(doc, "dnsbl.unreliable") if f["evidence"].get("list") == "Spamhaus ZEN"]
    case("mixed",
         len(zen) == 1 and zen[0]["evidence"].get("code") == "127.0.0.2"
         and zen[0]["evidence"].get("unknown_codes") == ["127.0.0.99"] and "127.0.0.99" in zen[0]["summary"]
         and sorted(zen[0]["evidence"].get("answers", [])) == ["127.0.0.2", "127.0.0.99"] and not und,
         "want a ZEN SBL listing naming 127.0.0.99, got listed %r unreliable %r" % (zen, und), p)

    # 5. IPv6 trust on RFC 5782's IPv6 test points, asked as nibbles
    with tempfile.TemporaryDirectory() as d:
        rec = os.path.join(d, "rec.json")
        p, doc = run(mxdiag, lab, ["--only", "dnsbl", "--sender-ip", "2001:db8::bad", "healthy.test"], record=rec)
        try:
            calls = json.load(open(rec)).get("calls", [])
        except (OSError, ValueError):
            calls = []
    asked = {c["args"]["name"]: c.get("result", {}) for c in calls
             if c.get("call") == "dns.query" and c.get("args", {}).get("type") == "A"}
    listed_pt = asked.get("2.0.0." + MAPPED + "zen.spamhaus.org", {})
    unlisted_pt = asked.get("1.0.0." + MAPPED + "zen.spamhaus.org", {})
    v6 = [f for f in findings(doc, "dnsbl.listed") if f["evidence"].get("subject") == "2001:db8::bad"]
    case("ipv6_points",
         listed_pt.get("status") == "NOERROR" and unlisted_pt.get("status") == "NXDOMAIN"
         and "2.0.0.127.zen.spamhaus.org" in asked and len(v6) == 1,
         "want ::ffff:7f00:2 listed and ::ffff:7f00:1 NXDOMAIN as nibbles on zen, and 2001:db8::bad listed; "
         "got %r / %r, listed %r" % (listed_pt.get("status"), unlisted_pt.get("status"), v6), p)
    p, doc = run(mxdiag, lab, ["--only", "dnsbl", "--resolver", "127.0.0.3", "--sender-ip", "2001:db8::bad",
                               "healthy.test"])
    zen = unreliable_for(doc, "Spamhaus ZEN")
    pts = {t["subject"]: t for f in zen for t in f["evidence"].get("test_points", [])}
    case("ipv6_points_blocked",
         zen and "2001:db8::bad" in zen[0]["evidence"].get("not_checked", [])
         and pts.get("::ffff:7f00:2", {}).get("kind") == "ip6" and not findings(doc, "dnsbl.listed"),
         "want ZEN unreliable with the IPv6 test points (kind ip6) and 2001:db8::bad not checked, got %r" % zen, p)

    # 6. a list the catalog does not know, answering 127.0.0.1 for everything
    p, doc = run(mxdiag, lab, ["--only", "dnsbl", "--dnsbl-zone", "dead.lab.test", "--sender-ip", "198.51.100.2",
                               "healthy.test"])
    unrel = findings(doc, "dnsbl.unreliable")
    case("dead_zone",
         len(unrel) == 1 and "RFC 5782" in unrel[0]["summary"] and "127.0.0.1" in unrel[0]["summary"]
         and not findings(doc, "dnsbl.listed") and not findings(doc, "dnsbl.clean"),
         "want one dnsbl.unreliable citing RFC 5782 and 127.0.0.1, no listed/clean, got %r" % unrel, p)

    # 7. a DQS key: the DQS zones answer through any resolver; the key is never shown
    with tempfile.TemporaryDirectory() as d:
        rec = os.path.join(d, "rec.json")
        p, doc = run(mxdiag, lab, ["--resolver", "127.0.0.3", "--dnsbl-key", KEY, "--sender-ip", "198.51.100.1",
                                   "--sender-domain", "spammy.test", "healthy.test"], record=rec, trace=True)
        try:
            rec_text = open(rec).read()
        except OSError:
            rec_text = ""
        # the recording (options.dnsbl_key = true, masked names) is a valid mxdiag.recording/1
        schema = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "schema", "validate.py"), "doc",
                                 "recording", rec], capture_output=True, text=True, timeout=60)
    listed = {f["evidence"].get("list"): f for f in findings(doc, "dnsbl.listed")}
    zen, dbl = listed.get("Spamhaus ZEN"), listed.get("Spamhaus DBL")
    leaked = [w for w, t in (("stdout", p.stdout), ("stderr/trace", p.stderr), ("recording", rec_text)) if KEY in t]
    case("dqs_key",
         zen is not None and dbl is not None
         and zen["evidence"].get("zone") == "mxdiag-dnsbl-key.zen.dq.spamhaus.net"
         and "1.100.51.198.mxdiag-dnsbl-key.zen.dq.spamhaus.net" in rec_text
         and "mxdiag-dnsbl-key" in p.stderr and not leaked and rec_text and schema.returncode == 0,
         "want ZEN and DBL listed via DQS zones with the key masked and a valid recording; listed %r, key leaked "
         "into %r, schema: %s" % (sorted(listed), leaked, (schema.stdout + schema.stderr).strip()[-600:]), p)

    if failed:
        print("FAIL dnsbl_catalog: %s" % ", ".join(failed))
        return 1
    print("PASS dnsbl_catalog")
    return 0


if __name__ == "__main__":
    sys.exit(main())

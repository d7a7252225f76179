-- The shipped cause patterns of `mxdiag logs` (see lib/log_patterns.lua for
-- the format and how a site extends them). The order is the priority: the
-- first entry that matches a failure's text gives its cause; a text that no
-- entry matches is "other".
--
-- Why this order: most specific first. A 554 greeting that names a
-- blocklist is an RBL problem (fix your IP), not a generic greeting reject;
-- Postfix "connect to H[A]:P: <strerror>" is told by its errno text alone,
-- whatever the host name in it says.
local CONNECT = { "^connect to ", "^delivery temporarily suspended: connect to " }

-- A lookup that may answer next time (your resolver, their servers) is told
-- from a name that does not exist (a mistyped domain): Postfix "Host not
-- found, try again" is SERVFAIL, "Host not found" NXDOMAIN; Sendmail "Name
-- server timeout" / "Host unknown".
local DNS = { "Host or domain name not found", "Name service error", "Unrouteable address", "non-existent host",
  "host lookup did not complete", "name server reply", "Host unknown", "host not found", "Name server", "NXDOMAIN" }

return {
  patterns = {
    -- Postfix "connect to H[A]:P: <strerror>" (maybe behind "delivery temporarily suspended: ")
    { cause = "timeout", match = { "Connection timed out$", "Operation timed out$" }, also = CONNECT },
    { cause = "refused", match = { "Connection refused$" }, also = CONNECT },
    { cause = "unreachable", match = { "No route to host$" }, also = CONNECT },
    { cause = "net_unreachable", match = { "Network is unreachable$" }, also = CONNECT },

    { cause = "null_mx", match = { "nullMX", "null MX", "indicated no SMTP service" } },
    { cause = "rbl_reject", match = { "blocked using", "listed by", "listed at", "is listed in", "DNSBL", "dnsbl",
      "in an RBL", " RBL", "blacklist", "black list", "blocklist", "block list", "spamhaus", "Spamhaus" } },
    -- Rejected for how this server identifies itself: no reverse DNS (PTR), or
    -- a name that does not resolve back; a HELO name the receiver refuses;
    -- SPF, DKIM or DMARC failing for the sender's domain. The fix is on the
    -- sending side. After the blocklists: a reply naming a list is that.
    { cause = "sender_identity", match = { "reverse DNS", "reverse dns", "Reverse DNS", "reverse hostname",
      "cannot find your hostname", "PTR record", "no PTR", " PTR", "rDNS", "Helo command rejected", "HELO command rejected",
      "need fully-qualified hostname", "Sender Policy Framework", "SPF", "DMARC", "DKIM", "unauthenticated" } },
    -- Deferred or refused for this server's reputation without a list named: Yahoo's "[TSS04] ... deferred
    -- due to user complaints", Gmail's "unusual rate of unsolicited mail" and "very low reputation of the
    -- sending IP". Before the greeting rejects: Yahoo says it at the greeting too.
    { cause = "sender_reputation", match = { "[TSS0", "[TS0", "user complaints", "unsolicited mail", "reputation",
      "Reputation" } },
    { cause = "tls_fail", match = { "Cannot start TLS", "TLS is required", "certificate verification failed",
      "certificate not verified", "SSL_connect", "TLS error", "TLS negotiation", "TLS session", "handshake failure",
      "TLS handshake failed", "in response to TLS-on-connect" } },
    -- Exim: "SMTP timeout after initial connection" is a timeout: with TCP
    -- Fast Open a dropped SYN is logged exactly like a server that accepts
    -- and never greets. "Remote host closed connection in response to
    -- initial connection" is a greeting that never came whole; "SMTP error
    -- ... after initial connection: 554" a greeting that said no.
    { cause = "timeout", match = { "timeout after initial connection" } },
    { cause = "greeting_lost", match = { "in response to initial connection" } },
    { cause = "greeting_reject", match = { "refused to talk to me", "after initial connection" } },
    { cause = "greeting_lost", match = { "while receiving the initial server greeting" } },
    { cause = "refused", match = { "Connection refused" } },
    { cause = "timeout", match = { "timed out", "SMTP timeout" } },
    { cause = "unreachable", match = { "No route to host", "Host is unreachable" } },
    -- EADDRNOTAVAIL: typically IPv6 with no usable source address; like
    -- ENETUNREACH a local network problem
    { cause = "net_unreachable", match = { "Network is unreachable", "Network unreachable",
      "Cannot assign requested address" } },
    { cause = "dns_fail", match = DNS, also = { "try again", "did not complete", "name server reply", "timeout",
      "SERVFAIL", "lookup failure", "temporar" } },
    { cause = "domain_not_found", match = DNS, also = { "Host not found", "host not found", "Unrouteable address",
      "non-existent host", "Host unknown", "NXDOMAIN" } },
    { cause = "dns_fail", match = DNS },
    -- the recipient, whatever the stage of the dialogue the reply came at
    -- (Yahoo and others answer after DATA): "5.1.1" is RFC 3463's bad mailbox
    { cause = "rcpt_reject", match = { "in reply to RCPT TO command", "after RCPT TO", "after pipelined RCPT TO",
      "User unknown", "user unknown", "Unknown user", "unknown user", "No such user", "no such user",
      "Recipient address rejected", "Mailbox unavailable", "mailbox unavailable", "Mailbox not found",
      "mailbox not found", "Invalid recipient", "invalid recipient", "Recipient not found", "recipient not found",
      "does not exist", "doesn't exist", "This user doesn't have a", " 5.1.1 ", "-5.1.1 " } },
  },
}

-- The failure causes of `mxdiag logs` as data: what each cause the log
-- parser classifies (engine/logparse.c) means, which class it belongs to for
-- the scope judgement (rules/95-logs-scope.lua), and the advice.
--
-- A site overrides this whole file with its own lib/logs_causes.lua in a
-- rules directory (--rules-dir DIR, /etc/mxdiag/rules.d): copy it, edit it.
--
-- Fields of a cause:
--   title    a few words for summaries
--   class    "network"    the connection to the remote server failed (TCP, greeting)
--            "dns"        a lookup failed for now (temporary: may answer next time)
--            "recipient"  the address is wrong: the domain does not exist, accepts no mail,
--                         or the remote server rejected the recipient (not a network problem;
--                         kept out of the network verdict)
--            "policy"     the remote server refused us (greeting reject)
--            "reputation" our IP is on a blocklist
--            "identity"   the remote server refused us for how we identify ourselves (reverse DNS,
--                         HELO name, SPF/DKIM/DMARC): fixed on the sending side
--            "tls"        TLS failed
--            "other"      anything else
--   permanent  true: retrying never helps (the domain does not exist)
--   advice   what to do
local M = {}

M.causes = {
  refused = {
    title = "connection refused", class = "network",
    advice = "Nothing accepted the TCP connection. If this hits many domains at once, an outbound firewall or your "
      .. "provider is rejecting port 25; if one domain, its MX is down or firewalled.",
  },
  timeout = {
    title = "connection or SMTP timeout", class = "network",
    advice = "Connections time out. Many providers (cloud, residential) silently drop outbound port 25: test "
      .. "`nc -vz gmail-smtp-in.l.google.com 25` and ask for port 25 to be opened, or relay via a smarthost. "
      .. "One domain only: its servers are down or overloaded.",
  },
  unreachable = {
    title = "no route to host", class = "network",
    advice = "No route to the remote host (EHOSTUNREACH, often an ICMP reject by a firewall): check routing and "
      .. "firewalls on your side if many hosts are affected; one host: theirs.",
  },
  net_unreachable = {
    title = "network unreachable", class = "route",
    advice = "This machine has no route for that address family (often IPv6): fix IPv6 routing or set "
      .. "inet_protocols = ipv4 (Postfix) / disable_ipv6 = true (Exim).",
  },
  greeting_lost = {
    title = "no SMTP greeting", class = "network",
    advice = "TCP connected but no SMTP greeting arrived: typical of port-25 interception, tarpitting, or the "
      .. "remote side rate-limiting you.",
  },
  greeting_reject = {
    title = "rejected at the greeting", class = "policy",
    advice = "The remote server rejected the connection in its greeting: read the reply text (reverse DNS, "
      .. "reputation, rate limits).",
  },
  rcpt_reject = {
    title = "recipient rejected", class = "recipient",
    advice = "The remote servers rejected recipients (unknown user, mailbox full, greylisting): their side or the "
      .. "address; read the reply text. Many unknown users from one source: validate addresses where they are entered.",
  },
  dns_fail = {
    title = "DNS lookup failed for now", class = "dns",
    advice = "DNS lookups for the destination failed for now (SERVFAIL, timeout, \"try again\"): this can answer "
      .. "next time. Many domains: check your resolver (/etc/resolv.conf, `dig mx gmail.com`); one domain: its "
      .. "name servers are broken.",
  },
  domain_not_found = {
    title = "domain does not exist", class = "recipient", permanent = true,
    advice = "The recipient domain (or the host its MX names) does not exist (NXDOMAIN, \"Host or domain name not "
      .. "found\", \"Unrouteable address\"): the address is mistyped or dead, not a network or resolver problem. "
      .. "Fix the address at its source (sign-up form, address book) and validate addresses where they are entered.",
  },
  null_mx = {
    title = "domain accepts no mail (null MX)", class = "recipient", permanent = true,
    advice = "The domain publishes a null MX (\"MX 0 .\"): it accepts no mail. Remove the address.",
  },
  tls_fail = {
    title = "TLS failed", class = "tls",
    advice = "TLS failed: check the policy (smtp_tls_security_level, tls_require_ciphers), the CA bundle and the "
      .. "remote certificate.",
  },
  rbl_reject = {
    title = "rejected as blocklisted", class = "reputation",
    advice = "Your sending IP is on a blocklist: look it up (`mxdiag check --sender-ip YOUR_IP DOMAIN`, Spamhaus, "
      .. "Barracuda), fix the cause and request delisting.",
  },
  sender_identity = {
    title = "rejected for this server's identity", class = "identity",
    advice = "Remote servers refuse this server for how it identifies itself (the reply texts say which): give the "
      .. "sending IP a reverse DNS (PTR) name that resolves back to the same IP, use that name as the HELO name "
      .. "(Postfix smtp_helo_name, Exim primary_hostname), publish SPF for the sender domains including this IP, "
      .. "and sign with DKIM aligned with the From domain (DMARC). `mxdiag check --sender-ip YOUR_IP DOMAIN` "
      .. "checks the reverse DNS.",
  },
  sender_reputation = {
    title = "deferred or refused for this server's reputation", class = "reputation",
    advice = "Receivers defer or refuse this server for its reputation (complaints, an unusual rate of spam-like "
      .. "mail; the reply texts say which): find what is sending (a compromised account, a form or list without "
      .. "confirmed opt-in), stop it, then follow the receiver's postmaster pages (Yahoo: "
      .. "https://senders.yahooinc.com/, Gmail: https://support.google.com/mail/answer/81126) and their "
      .. "feedback loops. `mxdiag check --sender-ip YOUR_IP DOMAIN` looks the IP up on the blocklists.",
  },
  other = {
    title = "other failure", class = "other",
    advice = "Read the remote reply text quoted in the evidence.",
  },
}

-- The entry for a cause name. A name this table does not describe (a cause
-- a site's lib/log_patterns.lua adds, "provider_throttled") gets a generic
-- wording: its name as title, class "other", advice to read the replies.
local generic = {}
function M.get(name)
  local c = M.causes[name]
  if c then return c end
  if type(name) ~= "string" then return M.causes.other end
  if not generic[name] then
    generic[name] = {
      title = name:gsub("_", " "), class = "other",
      advice = "A cause of this site's catalog (lib/log_patterns.lua) that lib/logs_causes.lua does not describe: "
        .. "read the reply texts quoted in the evidence, and describe the cause in the site's "
        .. "lib/logs_causes.lua (title, class, advice).",
    }
  end
  return generic[name]
end

function M.class(name)
  return M.get(name).class
end

return M

-- The SMTP dialogue with every MX address that accepted a TCP connection:
-- does the server greet us, speak ESMTP, offer STARTTLS with a certificate a
-- strict sender accepts, and (opt-in) accept the recipient?
local shared = require("shared")
local smtp = require("smtp")
local conn = require("conn")
local endpoint = require("tcp_explain").endpoint

local EXPIRING_DAYS = 14

local function label(p)
  return string.format("%s[%s]:%d%s", p.host or p.address, p.address, p.port,
    p.source and (" (from " .. p.source .. ")") or "")
end

local function quote(reply)
  if not reply then return "" end
  return string.format("%d %s", reply.code, (reply.text or ""):gsub("\n", " / "))
end

local function evidence(p, s, extra)
  local ev = { host = p.host, preference = p.preference, address = p.address, port = p.port, source = p.source,
               conn = s and s.conn }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ev
end

-- Which limit, in words, for smtp.protocol_error.
local LIMITS = {
  line = "a reply line longer than the line limit",
  reply_lines = "a reply with more lines than the per-reply limit",
  reply_bytes = "a reply larger than the per-reply byte limit",
  session_bytes = "more data than the per-connection byte limit (1 MiB)",
}

local STAGE_NAMES = {
  greeting = "the greeting", ehlo = "the EHLO reply", helo = "the HELO reply", starttls = "the STARTTLS reply",
  ehlo_tls = "the EHLO reply after STARTTLS", mail_from = "the MAIL FROM reply", rcpt_to = "the RCPT TO reply",
  rset = "the RSET reply",
}

local function protocol_error(report, p, s, timeout)
  local f = s.failure
  local stage = STAGE_NAMES[s.failed_stage] or s.failed_stage
  local what
  if f.status == "timeout" then
    what = string.format("no complete answer within %s s while waiting for %s (%s)", tostring(timeout), stage,
      f.error or "timeout")
  elseif f.status == "closed" then
    what = string.format("the connection closed in the middle of %s (%s)", stage, f.error or "closed")
  elseif f.limit then
    -- (the summary starts with the label already: "HOST[ADDR]:25: HOST[ADDR]:25 sent ..." said it twice)
    what = string.format("the server sent %s%s: %s", LIMITS[f.limit] or f.limit,
      stage and (" as " .. stage) or "", f.error or "")
  else
    what = string.format("%s is not a valid SMTP reply: %s", stage, f.error or "malformed")
  end
  local partial = f.partial and f.partial.lines and #f.partial.lines > 0 and f.partial or nil
  local reply = partial and partial.text or nil
  if f.unterminated then
    reply = (reply and (reply .. "\n") or "") .. f.unterminated .. " (no line end)"
  end
  report:finding {
    code = "smtp.protocol_error",
    summary = string.format("%s: %s", label(p), what),
    explanation = "The server's answer broke the SMTP protocol or one of mxdiag's safety limits, so the "
      .. "dialogue was abandoned. A real sender would give up the same way (Postfix: 'lost connection' or "
      .. "'malformed reply'), defer the mail and retry later. Something that is not a mail server, a broken "
      .. "proxy or load balancer, or a deliberately hostile peer sits on this address.",
    advice = "Check what listens on " .. endpoint(p.address, p.port) .. " (for example with "
      .. "'openssl s_client -starttls smtp' or 'swaks --server'), and any SMTP proxy or firewall inspection "
      .. "in front of it. Run mxdiag with --trace to see the dialogue.",
    evidence = evidence(p, s, { stage = s.failed_stage, status = f.status, error = f.error, limit = f.limit,
                                partial_lines = partial and #partial.lines or nil,
                                reply = reply }),
  }
end

local function greeting_findings(report, p, s, opts)
  local g = s.greeting
  local class = math.floor(g.code / 100)
  local ev = evidence(p, s, { reply = quote(g), code = g.code, enhanced = g.enhanced, elapsed_ms = g.elapsed_ms })
  if class == 5 then
    report:finding {
      code = "smtp.greeting_reject",
      summary = string.format("%s refuses this client at the greeting: %s", label(p), quote(g)),
      explanation = "TCP works, but the server answered the connection with a permanent refusal (" .. g.code
        .. ") instead of a welcome. This is a policy decision about the connecting client: its IP address "
        .. "is listed on a blocklist the server uses, it has no or a generic reverse DNS name, or it is "
        .. "blocked by the server's own access rules. The server's text usually says which.",
      advice = "Read the server's text: it often names the blocklist or rule. Check this source address's "
        .. "reputation (blocklists: run the dnsbl rules or check the named list's lookup page), make sure it "
        .. "has a PTR record whose name resolves back to it (FCrDNS), and if the block is a local policy ask "
        .. "the recipient's postmaster to allow the address.",
      evidence = ev,
    }
  elseif class == 4 and smtp.rate_limited(g) then
    report:finding {
      code = "smtp.rate_limited",
      summary = string.format("%s: rate-limited (by connections from your address): %s", label(p), quote(g)),
      explanation = "The server limits how many connections, or how many per minute, one client address may "
        .. "open, and this address is over the limit right now (Postfix: smtpd_client_connection_count_limit and "
        .. "smtpd_client_connection_rate_limit, enforced by anvil; large providers answer 421/4.7.x with their "
        .. "own texts). It is not a refusal: senders keep the mail queued and retry, so mail is delayed, not "
        .. "lost. mxdiag itself opened one connection to this address for this check"
        .. (s.reused and " (the TCP probe's connection carried the dialogue)" or "")
        .. ", so the other connections counted came from this address's own traffic (its MTA, other tools).",
      advice = "Spread the sending address's connections: Postfix smtp_destination_concurrency_limit and "
        .. "smtp_destination_rate_delay for this destination (a transport with a lower concurrency), fewer "
        .. "parallel tools probing it; if the limit is too strict for legitimate volume, ask the recipient's "
        .. "postmaster to raise it for your address (quote the reply). Check again after a minute.",
      evidence = ev,
    }
  elseif class == 4 then
    report:finding {
      code = "smtp.greeting_tempfail",
      summary = string.format("%s answered the connection with a temporary refusal: %s", label(p), quote(g)),
      explanation = "A " .. g.code .. " greeting means 'not now': the server is overloaded, in maintenance, "
        .. "rate-limiting this client, or greylisting it. Senders keep the mail queued and retry, so mail is "
        .. "delayed, not lost, as long as the condition clears before the sender's queue lifetime ends.",
      advice = "Try again later and from another source address (--source-ip); if it persists, the server's "
        .. "text names the reason (connection limits, reputation); contact the recipient's postmaster.",
      evidence = ev,
    }
  else
    report:finding {
      code = "smtp.greeting_ok",
      summary = string.format("%s greets: %s (after %d ms)", label(p), quote(g), g.elapsed_ms or 0),
      evidence = ev,
    }
    if (g.elapsed_ms or 0) >= opts.slow_ms then
      report:finding {
        code = "smtp.greeting_slow",
        summary = string.format("%s greeted only after %.1f s", label(p), (g.elapsed_ms or 0) / 1000),
        explanation = "The server waited before sending its greeting. That is usually deliberate: Postfix "
          .. "postscreen's greet pause or a tarpit that catches spam bots which talk before they are greeted. "
          .. "Patient senders are not affected; a sender with a short greeting timeout (under "
          .. string.format("%.0f", (g.elapsed_ms or 0) / 1000 + 1) .. " s) would give up.",
        advice = "Nothing to fix if the delay is intended. Do not send before the greeting arrives. If the delay "
          .. "is not intended, look for an overloaded server or slow reverse-DNS lookups on its side.",
        evidence = ev,
      }
    end
  end
end

local function ehlo_findings(report, p, s)
  local e = s.ehlo_tls and math.floor(s.ehlo_tls.code / 100) ~= 2 and s.ehlo_tls or s.ehlo
  local after_tls = e == s.ehlo_tls
  if not e or math.floor(e.code / 100) == 2 then return end
  local helo_ok = s.helo_reply and math.floor(s.helo_reply.code / 100) == 2
  report:finding {
    code = "smtp.ehlo_rejected",
    severity = (helo_ok and "warn") or "crit",
    summary = string.format("%s rejected EHLO %s%s: %s%s", label(p), s.helo, after_tls and " after STARTTLS" or "",
      quote(e), helo_ok and " (HELO was accepted)" or (s.helo_reply and (", and HELO: " .. quote(s.helo_reply)) or "")),
    explanation = helo_ok
      and "The server does not accept EHLO, only the old HELO: no SMTP extensions, so no STARTTLS, no SIZE, "
        .. "no 8BITMIME. Mail can flow, but only unencrypted."
      or "The server refused the client's introduction. Servers reject the EHLO name when it is not a fully "
        .. "qualified name, does not resolve, or claims to be the server itself; some reject by client IP "
        .. "here instead of at the greeting. Senders cannot continue.",
    advice = "Use a fully qualified, resolvable EHLO name (mxdiag: --helo NAME; Postfix: smtp_helo_name / "
      .. "myhostname), and read the server's text for the rule that refused it.",
    evidence = evidence(p, s, { helo = s.helo, reply = quote(e), enhanced = e.enhanced,
                                helo_reply = s.helo_reply and quote(s.helo_reply) }),
  }
end

local function tls_findings(report, p, s)
  if s.tls_error then
    local te = s.tls_error
    local refused = te.status == "refused"
    report:finding {
      code = "tls.handshake_failed",
      summary = refused
        and string.format("%s offers STARTTLS but refused to start it: %s", label(p), te.error or "")
        or string.format("%s offers STARTTLS but the TLS handshake failed: %s", label(p), te.error or te.status),
      explanation = "The server announces STARTTLS, so senders try it, but no encrypted session came up. "
        .. "Senders that require TLS (MTA-STS enforce, DANE, smtp_tls_security_level = encrypt) defer the "
        .. "mail; opportunistic senders usually retry in plaintext, which an attacker on the path could "
        .. "also force. Common causes: a missing or unreadable key/certificate on the server, no protocol or "
        .. "cipher in common, or a middlebox that breaks TLS on port 25.",
      advice = "Test with 'openssl s_client -starttls smtp -connect " .. endpoint(p.address, p.port)
        .. (p.host and (" -servername " .. p.host) or "") .. "' and read the server's TLS log "
        .. "(Postfix: smtpd_tls_loglevel = 1).",
      evidence = evidence(p, s, { status = te.status, error = te.error,
                                  starttls_reply = s.starttls_reply and quote(s.starttls_reply) }),
    }
    return
  end
  local t = s.tls
  if not t then return end
  local ev = evidence(p, s, { protocol = t.protocol, cipher = t.cipher, subject = t.subject, issuer = t.issuer,
                              sans = t.sans, not_before = t.not_before, not_after = t.not_after,
                              days_left = t.days_left, verify_result = t.verify_result,
                              trust_result = t.trust_result, servername = p.host, chain_length = t.chain_length,
                              handshake_ms = t.elapsed_ms })
  local problems = 0
  if not t.certificate then
    problems = problems + 1
    report:finding {
      code = "tls.cert_untrusted",
      summary = string.format("%s sent no certificate (%s)", label(p), t.cipher or "?"),
      explanation = "Without a certificate the server cannot be authenticated.",
      advice = "Configure a certificate for the SMTP server (Postfix: smtpd_tls_chain_files).",
      evidence = ev,
    }
  else
    if t.trusted == false then
      problems = problems + 1
      report:finding {
        code = "tls.cert_untrusted",
        summary = string.format("%s: certificate not trusted (%s); issuer %s", label(p), t.trust_result or "?",
          t.issuer or "?"),
        explanation = "The certificate chain does not lead to a certificate authority in this host's trust "
          .. "store: self-signed, a private CA, or a missing intermediate certificate. Opportunistic senders "
          .. "still deliver; senders that verify (MTA-STS, or smtp_tls_security_level = verify/secure) do not.",
        advice = "Serve a certificate from a public CA with the full chain (leaf + intermediates). If a "
          .. "private CA is intended, pass its certificate to mxdiag with --ca-file.",
        evidence = ev,
      }
    end
    if t.name_ok == false then
      problems = problems + 1
      report:finding {
        code = "tls.cert_name_mismatch",
        summary = string.format("%s: certificate is for %s, not %s", label(p),
          (t.sans and #t.sans > 0) and table.concat(t.sans, ", ") or (t.subject or "?"), p.host or p.address),
        explanation = "The certificate does not name the MX host the sender connected to. Senders that verify "
          .. "the name (MTA-STS, DANE-EE aside) refuse to deliver; others deliver without authentication.",
        advice = "Install a certificate whose subjectAltName includes " .. (p.host or p.address)
          .. " (the MX host name, not only the domain).",
        evidence = ev,
      }
    end
    if t.expired or t.not_yet_valid then
      problems = problems + 1
      report:finding {
        code = "tls.cert_expired",
        summary = t.expired
          and string.format("%s: certificate expired on %s (%d days ago)", label(p), t.not_after or "?",
            -(t.days_left or 0))
          or string.format("%s: certificate not valid before %s", label(p), t.not_before or "?"),
        explanation = "An expired (or not yet valid) certificate fails verification. Verifying senders refuse "
          .. "to deliver; MTA-STS-enforcing senders (Gmail, Microsoft) defer mail for this domain.",
        advice = "Renew the certificate and reload the mail server (check that the renewal job also reloads it).",
        evidence = ev,
      }
    elseif (t.days_left or 999) <= EXPIRING_DAYS then
      problems = problems + 1
      report:finding {
        code = "tls.cert_expiring",
        summary = string.format("%s: certificate expires in %d days (%s)", label(p), t.days_left, t.not_after or "?"),
        explanation = "Once it expires, verifying senders stop delivering.",
        advice = "Renew it now, and check that automatic renewal works and reloads the mail server.",
        evidence = ev,
      }
    end
  end
  if problems == 0 then
    report:finding {
      code = "tls.ok",
      summary = string.format("%s: STARTTLS %s %s, certificate for %s issued by %s, valid until %s (%d days)",
        label(p), t.protocol or "?", t.cipher or "?", p.host or p.address, t.issuer or "?", t.not_after or "?",
        t.days_left or 0),
      evidence = ev,
    }
  end
end

local function starttls_missing(report, p, s)
  if not s.capabilities or s.starttls_offered then return end
  report:finding {
    code = "smtp.starttls_missing",
    summary = string.format("%s does not offer STARTTLS (EHLO capabilities: %s)", label(p),
      #s.capabilities.list > 0 and table.concat(s.capabilities.list, " ") or "none"),
    explanation = "Mail to this server travels unencrypted. Senders that require TLS (MTA-STS enforce, DANE, "
      .. "or a policy for this domain) cannot deliver at all.",
    advice = "Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with a certificate).",
    evidence = evidence(p, s, { capabilities = s.capabilities.list, ehlo_domain = s.capabilities.domain }),
  }
end

-- What the server offers, as its EHLO reply says it (keywords with their
-- parameters), before and after STARTTLS: what swaks shows, in text and JSON.
local function capability_words(c)
  local out = {}
  for _, kw in ipairs(c and c.list or {}) do
    local params = c.caps[kw] or {}
    out[#out + 1] = #params > 0 and (kw .. " " .. table.concat(params, " ")) or kw
  end
  return out
end

local function capabilities_finding(report, p, s)
  if not s.capabilities then return end
  local before, after = capability_words(s.capabilities), s.capabilities_tls and capability_words(s.capabilities_tls)
  report:finding {
    code = "smtp.capabilities",
    summary = string.format("%s EHLO capabilities: %s%s", label(p), #before > 0 and table.concat(before, ", ") or "none",
      after and (" — after STARTTLS: " .. (#after > 0 and table.concat(after, ", ") or "none")) or ""),
    evidence = evidence(p, s, { capabilities = before, capabilities_tls = after, ehlo_domain = s.capabilities.domain }),
  }
end

local function rcpt_findings(report, p, s)
  local pr = s.probe
  if not pr then return end
  local r = pr.reply or pr.mail
  local stage = pr.reply and "RCPT TO" or "MAIL FROM"
  local class = math.floor(r.code / 100)
  local ev = evidence(p, s, { rcpt = pr.rcpt, mail_from = pr.mail_from, stage = stage, reply = quote(r),
                              code = r.code, enhanced = r.enhanced })
  if class == 2 and pr.reply then
    report:finding {
      code = "smtp.rcpt_accepted",
      summary = string.format("%s accepts <%s>: %s", label(p), pr.rcpt, quote(r)),
      explanation = "The server accepted the recipient at RCPT time (no message was sent: the probe stops "
        .. "with RSET). Some servers accept every recipient and bounce later, so this is a strong hint, not proof.",
      evidence = ev,
    }
    return
  end
  local enh = r.enhanced or ""
  local why
  if stage == "MAIL FROM" then
    why = "The server refused the sender address <" .. pr.mail_from .. "> before the recipient could be asked "
      .. "(an empty sender is the bounce address; some servers refuse it, others refuse unknown domains)."
  elseif enh == "5.1.1" or enh == "5.1.10" or (enh == "" and r.code == 550 and (r.text or ""):lower():find("unknown")) then
    why = "Enhanced status " .. (enh ~= "" and enh or "(none)") .. ": the mailbox does not exist. The address is "
      .. "wrong or the account was removed: mail to it bounces."
  elseif enh:match("^5%.7%.") then
    why = "Enhanced status " .. enh .. ": refused by policy, not because the mailbox is unknown: this "
      .. "client (its IP address, reputation or missing authentication) or this relay path is not allowed."
  elseif enh == "5.1.2" then
    why = "Enhanced status 5.1.2: the recipient's domain is not handled here."
  elseif enh == "5.2.2" or enh == "4.2.2" then
    why = "Enhanced status " .. enh .. ": the mailbox is full."
  elseif class == 4 then
    why = "A temporary refusal (" .. r.code .. (enh ~= "" and (" " .. enh) or "") .. "): greylisting, a "
      .. "full mailbox, or a lookup failure on the server. Senders retry."
  else
    why = "The server refused the recipient (" .. r.code .. (enh ~= "" and (" " .. enh) or "") .. "); its "
      .. "text says why."
  end
  report:finding {
    code = "smtp.rcpt_rejected",
    severity = class == 4 and "warn" or nil,
    summary = string.format("%s rejects %s <%s>: %s", label(p), stage == "MAIL FROM" and "sender" or "recipient",
      stage == "MAIL FROM" and pr.mail_from or pr.rcpt, quote(r)),
    explanation = why,
    advice = enh:match("^5%.7%.") and "Policy rejection: check this source address's reputation and reverse DNS, "
        .. "or ask the recipient's postmaster what rule applies."
      or "Check the recipient address for typos; if it should exist, the recipient's postmaster must create it "
        .. "or fix the alias/mailbox lookup.",
    evidence = ev,
  }
end

local function no_greeting(report, p, s, timeout)
  local f = s.failure
  local partial = (f.partial and f.partial.lines and #f.partial.lines > 0) or f.unterminated
  if partial or f.status == "protocol" then return protocol_error(report, p, s, timeout) end
  local connect_failed = s.failed_stage == "connect"
  report:finding {
    code = "smtp.no_greeting",
    summary = connect_failed
      and string.format("%s: reconnecting for the SMTP dialogue failed (%s)", label(p), f.status or "?")
      or f.status == "timeout"
        and string.format("%s accepted the connection but sent no greeting within %s s", label(p), tostring(timeout))
        or string.format("%s accepted the connection, then closed it without a greeting (%s)", label(p),
          f.error or f.status),
    explanation = "A mail server greets (220) right after accepting the connection. Silence means a server "
      .. "that is hung or overloaded, a tarpit with a very long greet delay, or something other than SMTP "
      .. "behind the port (a proxy or load balancer with no backend). A close without a greeting is often a "
      .. "server that drops clients it does not like (connection limits, blocklists) without telling them.",
    advice = "Connect by hand ('nc " .. p.address .. " " .. p.port .. "' or 'swaks --server " .. p.address
      .. " --quit-after CONNECT') and wait longer (--timeout). If this is your server, check its process, its "
      .. "connection limits and the logs of any proxy in front of it.",
    evidence = evidence(p, s, { stage = s.failed_stage, status = f.status, error = f.error,
                                elapsed_ms = f.elapsed_ms }),
  }
end

-- The certificate of a session as published in smtp.sessions (docs/facts.json
-- documents each field), so that other rules need not connect again.
local function certificate_fact(t)
  if not t or not t.certificate then return nil end
  local chain = {}
  for i, c in ipairs(t.chain or {}) do chain[i] = { subject = c.subject, issuer = c.issuer, not_after = c.not_after } end
  return {
    subject = t.subject, issuer = t.issuer, sans = t.sans or {}, not_before = t.not_before, not_after = t.not_after,
    days_left = t.days_left, expired = t.expired, chain_length = t.chain_length, chain = chain,
    verify_ok = t.verify_ok, verify_result = t.verify_result, name_ok = t.name_ok, trusted = t.trusted,
  }
end

-- The findings and the smtp.sessions entry of one address, worked out once
-- per run (shared.memo) and submitted by every check whose MX has it: in a
-- batch most domains share a few providers' addresses. Besides the dialogue
-- (its key: address, port, SNI name, source, helo, timeout, rcpt, mail_from)
-- they read only the MX host's name and preference (label, evidence) and
-- constants, so those complete the key; nothing in them names the domain.
-- The value is shared by every check of the run, sealed by shared.memo
-- (read-only): report:publish takes the entry as it is and report:finding
-- converts each finding once per run.
local function address_part(p, s, timeout, opts, key)
  return shared.memo("smtp-part|" .. key .. "|" .. tostring(p.host) .. "|" .. shared.str(p.preference), function()
    local findings = {}
    local sink = { finding = function(_, f) findings[#findings + 1] = f end }
    if not s.greeting then
      no_greeting(sink, p, s, timeout)
    else
      greeting_findings(sink, p, s, opts)
      if s.failure then
        protocol_error(sink, p, s, timeout)
      end
      ehlo_findings(sink, p, s)
      starttls_missing(sink, p, s)
      capabilities_finding(sink, p, s)
      tls_findings(sink, p, s)
      if not s.failure then rcpt_findings(sink, p, s) end
    end
    local entry = {
      host = p.host, preference = p.preference, address = p.address, port = p.port, source = p.source,
      greeting = s.greeting and s.greeting.code, greeting_ms = s.greeting_ms,
      greeting_text = s.greeting and s.greeting.text,
      certificate = certificate_fact(s.tls),
      esmtp = s.capabilities ~= nil, starttls = s.starttls_offered, tls = s.tls ~= nil,
      tls_protocol = s.tls and s.tls.protocol, failed_stage = s.failed_stage,
      rcpt = s.probe and s.probe.reply and s.probe.reply.code,
      rate_limited = smtp.rate_limited(s.greeting) or nil, reused = s.reused,
    }
    return { findings = findings, entry = entry }
  end)
end

return {
  id = "smtp",
  description = "SMTP dialogue with each connected MX address: greeting, EHLO, STARTTLS and certificate, "
    .. "optional recipient probe (--rcpt)",
  categories = { "smtp", "tls", "default" },
  requires = { "tcp.results" },
  provides = { "smtp.sessions" },
  timeout = 300,
  codes = {
    ["smtp.greeting_ok"] = "ok", ["smtp.capabilities"] = "ok", ["smtp.greeting_reject"] = "crit", ["smtp.greeting_tempfail"] = "warn",
    ["smtp.rate_limited"] = "warn",
    ["smtp.greeting_slow"] = "info", ["smtp.no_greeting"] = "crit", ["smtp.ehlo_rejected"] = "warn",
    ["smtp.starttls_missing"] = "warn", ["smtp.protocol_error"] = "crit",
    ["smtp.rcpt_accepted"] = "ok", ["smtp.rcpt_rejected"] = "crit",
    ["tls.ok"] = "ok", ["tls.handshake_failed"] = "warn", ["tls.cert_untrusted"] = "warn",
    ["tls.cert_name_mismatch"] = "warn", ["tls.cert_expired"] = "warn", ["tls.cert_expiring"] = "warn",
  },
  run = function(target, report)
    local o = target.options
    local timeout = o.timeout or 10
    local opts = { slow_ms = smtp.DEFAULT_SLOW_GREETING_MS }
    local probes, jobs, held, keys = {}, {}, {}, {}
    for _, r in ipairs(target.facts["tcp.results"]) do
      if r.verdict == "connected" then
        local p = { host = r.host, preference = r.preference, address = r.address, port = r.port, source = r.source }
        -- an MX given as an address has no name to verify the certificate against
        local host = p.host ~= p.address and p.host or nil
        probes[#probes + 1] = p
        -- one dialogue per address and parameters for the whole run (batch)
        local key = "smtp|" .. p.address .. "|" .. shared.str(p.port) .. "|" .. tostring(host) .. "|" .. tostring(p.source) .. "|"
          .. tostring(o.helo) .. "|" .. shared.str(timeout) .. "|" .. tostring(o.rcpt) .. "|" .. tostring(o.mail_from)
        keys[#keys + 1] = key
        -- a dialogue already known from another check of the run (batch) needs no connection: free
        -- the probe's at once, so it holds no per-address slot another dialogue may wait for
        -- (released once: not kept in held, which is released again below)
        if r.conn_key then
          if shared.done(key) then conn.release(r.conn_key) else held[#held + 1] = r.conn_key end
        end
        jobs[#jobs + 1] = { key, function()
          -- the tcp rule's connection carries the dialogue: one connection per address and check
          local sock, detail
          if r.conn_key then sock, detail = conn.take(r.conn_key) end
          return smtp.session(p.address, p.port, {
            host = host, source = p.source, helo = o.helo, timeout = timeout,
            rcpt = o.rcpt, mail_from = o.mail_from, sock = sock, connect = detail,
          })
        end }
      end
    end
    local sessions = shared.all(jobs)
    -- a dialogue already known from another check (batch) left its connection unused: close it
    for _, k in pairs(held) do conn.release(k) end
    local out = {}
    for i, p in ipairs(probes) do
      local a = address_part(p, sessions[i], timeout, opts, keys[i])
      for _, f in ipairs(a.findings) do report:finding(f) end
      out[#out + 1] = a.entry
    end
    -- one sealed list for every check with the same entries (the same addresses and inputs)
    report:publish("smtp.sessions", shared.list("smtp.sessions", out))
  end,
}

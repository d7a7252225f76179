-- MX and address resolution: the domain's mail hosts in preference order,
-- RFC 5321 §5.1 implicit MX, RFC 7505 null MX, and what is wrong with them.
local function fmt_resolver()
  return dns.servers()
end

local find = string.find
local shared = require("shared")
local NONE = {} -- an empty list, only ever read
-- The summaries most domains get (mx.ok, its parts, reserved addresses,
-- NXDOMAIN) are joined with .. rather than string.format: each %s costs a
-- luaL_tolstring and a buffer step, ~2 k instructions a summary (issue 21).
-- Their values are strings and integers (a preference: "%d" and .. agree).

-- The sort orders, made once per file, not a closure per call (issue 21).
local function by_preference(x, y)
  if x.preference ~= y.preference then return x.preference < y.preference end
  return x.host < y.host
end
local function ipv4_first(a, b)
  local a6, b6 = a:find(":") ~= nil, b:find(":") ~= nil
  if a6 ~= b6 then return b6 end
  return a < b
end

local function sorted_hosts(answers)
  local hosts = {}
  for _, a in ipairs(answers) do
    hosts[#hosts + 1] = { host = a.data, preference = a.preference, ttl = a.ttl }
  end
  table.sort(hosts, by_preference)
  return hosts
end

-- One address query of resolve(): the answer (sealed, shared: only read
-- here), or a failure's status and detail error as a list (answers are
-- tables too, so a failure is told apart by its [1] == false). No
-- table.pack of the three values for the common answer (issue 21).
local function ask(name, rtype)
  local ans, err, detail = dns.query(name, rtype)
  if ans then return ans end
  return { false, err, detail and detail.error }
end

-- What resolve() makes of two answers, worked out once per pair: the
-- answers are sealed and shared (the gate hands every asker of a question in
-- the run the same table), so in a batch every domain whose MX host is a
-- provider's gets the same pair, and the same addresses, chain and failures
-- (only read from then on: published and put in evidence as they are). Keyed
-- by the answers themselves, weakly: an entry goes with its answers (the
-- epoch's cache), and an answer asked again after that is a new table, a new
-- key (issue 21).
local by_answers = setmetatable({}, { __mode = "k" })

local function from_answers(a, aaaa)
  local addrs, chain, failures = {}, nil, nil
  local res = { a, aaaa }
  for i = 1, 2 do
    local ans = res[i]
    -- an answer is sealed: [1] rather than # (a read, not a call of __len)
    if ans.cname[1] ~= nil then chain = ans.cname end
    if ans.status == "NOERROR" then
      for _, rr in ipairs(ans.answers) do addrs[#addrs + 1] = rr.data end
    else
      failures = failures or {}
      failures[#failures + 1] = { type = i == 1 and "A" or "AAAA", status = ans.status }
    end
  end
  if addrs[2] then table.sort(addrs, ipv4_first) end
  -- [4]: what a usable MX host with these answers gives every domain (host_slot)
  return { addrs, chain, failures or {}, {} }
end

-- Resolves A and AAAA of name concurrently; returns addresses, cname chain,
-- and a failure ("nxdomain", "nodata", "timeout", ...) when there are none.
local function resolve(name)
  local res = task.all {
    function() return ask(name, "A") end,
    function() return ask(name, "AAAA") end,
  }
  local a, aaaa = res[1], res[2]
  if a[1] ~= false and aaaa[1] ~= false then
    local inner = by_answers[a]
    if not inner then inner = setmetatable({}, { __mode = "k" }); by_answers[a] = inner end
    local r = inner[aaaa]
    if not r then r = from_answers(a, aaaa); inner[aaaa] = r end
    return r[1], r[2], r[3], r[4]
  end
  local addrs, chain, failures = {}, nil, {}
  for i = 1, 2 do
    local ans = res[i]
    if ans[1] == false then
      failures[#failures + 1] = { type = i == 1 and "A" or "AAAA", status = ans[2], error = ans[3] }
    else
      if ans.cname[1] ~= nil then chain = ans.cname end
      if ans.status == "NOERROR" then
        for _, rr in ipairs(ans.answers) do addrs[#addrs + 1] = rr.data end
      else
        failures[#failures + 1] = { type = i == 1 and "A" or "AAAA", status = ans.status }
      end
    end
  end
  if addrs[2] then table.sort(addrs, ipv4_first) end
  return addrs, chain, failures
end

local function dns_failure(report, name, rtype, err, detail, host)
  local resolver = (detail and detail.server) or fmt_resolver()
  local ev = { name = name, type = rtype, resolver = resolver, elapsed_ms = detail and detail.elapsed_ms,
               host = host }
  if err == "timeout" then
    report:finding {
      code = "dns.timeout",
      summary = string.format("No usable answer from the resolver %s for %s %s (gave up after %s ms)", resolver,
        name, rtype, tostring(detail and detail.elapsed_ms or "?")),
      explanation = "The DNS resolver did not answer within the timeout (or only sent replies that do not "
        .. "match the question, which are discarded), so nothing about this domain's mail hosts can be "
        .. "verified. This says nothing about the domain itself: the problem is between this host and its "
        .. "resolver (resolver down, firewall dropping DNS, an overloaded or broken resolver).",
      advice = "Check that the resolver answers (dig @RESOLVER " .. name .. " " .. rtype .. "), or pass another "
        .. "one with --resolver.",
      evidence = ev,
    }
  elseif err == "refused" then
    report:finding {
      code = "dns.resolver_unreachable",
      summary = string.format("The resolver %s refused or closed the connection without answering", resolver),
      explanation = "The resolver's address answered with an ICMP port-unreachable or a TCP reset (no DNS "
        .. "server listens there), or a TCP connection (used after a truncated UDP answer) was closed "
        .. "without an answer. Nothing about the domain can be verified.",
      advice = "Fix /etc/resolv.conf or pass a working resolver with --resolver.",
      evidence = ev,
    }
  elseif err == "invalid" then
    report:finding {
      code = "mx.invalid_name", severity = "crit",
      summary = string.format("%s is not a valid host name: %s", name, detail and detail.error or "?"),
      explanation = "A name in the mail routing is not a valid DNS name, so no sending server can use it.",
      advice = "Correct the DNS record that contains it.",
      evidence = ev,
    }
  else
    ev.error = detail and detail.error
    report:finding {
      code = "dns.error",
      summary = string.format("DNS lookup of %s %s failed: %s", name, rtype, ev.error or err),
      explanation = "The resolver's answer could not be used (malformed, or a local error).",
      advice = "Run with --trace to see the exchange; try another resolver with --resolver.",
      evidence = ev,
    }
  end
end

local function rcode_failure(report, name, rtype, ans, host)
  local ev = { name = name, type = rtype, rcode = ans.status, resolver = ans.server, elapsed_ms = ans.elapsed_ms,
               host = host }
  if ans.status == "NXDOMAIN" and not host then
    report:finding {
      code = "dns.nxdomain",
      summary = "The domain " .. name .. " does not exist (NXDOMAIN)",
      explanation = "The DNS says this domain does not exist, so no server anywhere can deliver mail to it. "
        .. "Typical causes: a typo in the address, an expired domain, or a delegation that is broken.",
      advice = "Check the spelling of the recipient's domain; if it is right, the domain's owner must fix its "
        .. "registration or delegation (whois, dig +trace " .. name .. ").",
      evidence = ev,
    }
  elseif ans.status == "SERVFAIL" then
    report:finding {
      code = "dns.servfail",
      summary = string.format("The resolver %s answered SERVFAIL for %s %s", ans.server, name, rtype),
      explanation = "SERVFAIL means the resolver could not get an answer from the domain's name servers "
        .. "(servers down or lame, DNSSEC validation failure). Sending servers will defer mail and retry.",
      advice = "Check the domain's name servers directly (dig +trace " .. name .. " " .. rtype
        .. "); if they answer, the resolver or DNSSEC is the problem.",
      evidence = ev,
    }
  elseif ans.status == "REFUSED" then
    report:finding {
      code = "dns.refused",
      summary = string.format("The resolver %s refused to answer %s %s (REFUSED)", ans.server, name, rtype),
      explanation = "The resolver does not serve this client (recursion not allowed, or an access list). "
        .. "Nothing about the domain can be verified through it.",
      advice = "Use a resolver that allows recursion for this host (--resolver).",
      evidence = ev,
    }
  else
    report:finding {
      code = "dns.error",
      summary = string.format("Unexpected DNS answer %s for %s %s", ans.status, name, rtype),
      explanation = "The resolver answered with an error code mxdiag cannot interpret as a verdict.",
      advice = "Run with --trace to see the exchange.",
      evidence = ev,
    }
  end
end

-- One address of an MX host: its mx.addresses entry and its
-- mx.reserved_address finding (nil: a public address), worked out once per
-- run (shared.memo) and submitted by every check whose MX host has the
-- address: in a batch most domains share a few providers' hosts. They read
-- the host's name, its preference, the address and --allow-reserved, the
-- whole key; nothing in them names the domain. Sealed by shared.memo:
-- report:finding converts the finding once per run, not once per check
-- (issue 21).
local function address_part(host, pref, a, allow)
  return shared.memo("mx-addr|" .. host .. "|" .. shared.str(pref) .. "|" .. a .. "|" .. (allow and "1" or "0"),
      function()
    local r = net.is_reserved(a)
    local f
    if r then
      f = {
        code = "mx.reserved_address",
        severity = allow and "info" or "warn",
        summary = host == a and a .. " is a " .. r.name .. " address (" .. r.block .. ")"
          or host .. " resolves to " .. a .. ", a " .. r.name .. " address (" .. r.block .. ")",
        explanation = "Addresses in special-purpose blocks (" .. r.rfc .. ") are not reachable from the "
          .. "internet: other senders cannot deliver to this MX, even if this host can.",
        advice = allow and "Reported as information because --allow-reserved was given."
          or "Publish the MX host's public address; keep private addresses in split-horizon DNS only.",
        evidence = { host = host, preference = pref, address = a, block = r.block },
      }
    end
    -- a is an address (an A/AAAA answer's, the target's): its family is
    -- whether it has a colon, without net.parse_address's table (issue 21)
    return { entry = { host = host, preference = pref, address = a, family = find(a, ":", 1, true) and 6 or 4 },
             finding = f }
  end)
end

local function check_addresses(report, target, host, pref, addrs, out)
  local allow = target.options.allow_reserved
  for _, a in ipairs(addrs) do
    local part = address_part(host, pref, a, allow)
    if part.finding then report:finding(part.finding) end
    out[#out + 1] = part.entry
  end
end

-- -4 / -6 (target.options.family): only the addresses of that family are
-- probed; the others are named, not hidden. None left: over that family the
-- target cannot be reached at all.
-- The entries are shared.memo's (address_part: sealed once per run), so the
-- list is published as one sealed list per sequence of them (shared.list),
-- not sealed per domain (issue 21).
-- sealed: the list already sealed (a host's slot), or nil.
local function publish_addresses(target, report, addresses, sealed)
  local fam = target.options.family
  if fam ~= 4 and fam ~= 6 then
    report:publish("mx.addresses", sealed or shared.list("mx.addresses", addresses))
    return
  end
  local kept, skipped = {}, {}
  for _, a in ipairs(addresses) do
    if a.family == fam then kept[#kept + 1] = a else skipped[#skipped + 1] = a.address end
  end
  local name = target.domain or target.host or target.address
  if #skipped > 0 then
    local none = #kept == 0
    report:finding {
      code = none and "mx.no_family" or "mx.family_skipped",
      summary = none
        and string.format("%s has no IPv%d mail host address (only %s): a sender with IPv%d only cannot deliver to it",
          name, fam, table.concat(skipped, ", "), fam)
        or string.format("Only IPv%d was tested (-%d): not probed: %s", fam, fam, table.concat(skipped, ", ")),
      explanation = none and ("-" .. fam .. " restricts the check to IPv" .. fam .. ", and no mail host of this "
          .. "target has such an address.") or nil,
      advice = none and ("Run without -" .. fam .. " to test the other family; publish an IPv" .. fam
          .. " address (" .. (fam == 4 and "A" or "AAAA") .. " record) if senders with IPv" .. fam
          .. " only should reach it.") or nil,
      evidence = { family = fam, skipped = skipped },
    }
  end
  report:publish("mx.addresses", shared.list("mx.addresses", kept))
end

-- The target is an address: it is its own mail host.
local function check_address_target(target, report, addresses)
  check_addresses(report, target, target.address, nil, { target.address }, addresses)
  report:publish("mx.hosts", { { host = target.address, addresses = { target.address } } })
  publish_addresses(target, report, addresses)
end

-- The target is a host name: its A/AAAA addresses, no MX lookup.
local function check_host_target(target, report, addresses)
  local addrs, _, failures = resolve(target.host)
  if #addrs == 0 then
    report:finding {
      code = "host.unresolvable",
      summary = string.format("The host %s has no A or AAAA record", target.host),
      explanation = "Without an address there is nothing to connect to.",
      advice = "Check the host name and its DNS records.",
      evidence = { name = target.host, failures = failures, resolver = dns.servers() },
    }
    return
  end
  check_addresses(report, target, target.host, nil, addrs, addresses)
  report:publish("mx.hosts", { { host = target.host, addresses = addrs } })
  publish_addresses(target, report, addresses)
end

-- Every mail host address IPv6: a sender with IPv4 only (still most of them)
-- has no route to any, and its mail bounces or waits in the queue.
local function report_ipv6_only(report, domain, addresses)
  if #addresses == 0 then return end
  for _, a in ipairs(addresses) do
    if a.family ~= 6 then return end
  end
  local v6 = {}
  for i, a in ipairs(addresses) do v6[i] = a.address end
  report:finding {
    code = "mx.ipv6_only",
    summary = string.format("Every mail host address of %s is IPv6 (%s): senders with IPv4 only cannot reach it",
      domain, table.concat(v6, ", ")),
    explanation = "A sender delivers over the address families it has. Many mail servers still have no IPv6 "
      .. "connectivity (or Postfix with inet_protocols = ipv4): for them this domain has no reachable mail host, "
      .. "and their mail to it is deferred and finally bounced, while IPv6-capable senders see no problem.",
    advice = "Give at least one MX host an IPv4 address (an A record), or add an MX host that has one.",
    evidence = { name = domain, addresses = v6 },
  }
end

-- RFC 5321 §5.1: no MX, so the domain itself is the mail host.
local function implicit_mx(target, report, domain, ans, addresses)
  local addrs, _, failures = resolve(domain)
  if #addrs == 0 then
    report:finding {
      code = "mx.none",
      summary = string.format("%s has no MX record and no A/AAAA record: it cannot receive mail", domain),
      explanation = "Without MX records a sender falls back to the domain's own address (RFC 5321 §5.1); "
        .. "this domain has none either, so there is nowhere to deliver.",
      advice = "Publish an MX record for " .. domain .. " pointing at its mail server.",
      evidence = { name = domain, failures = failures, resolver = ans.server },
    }
    return
  end
  report:finding {
    code = "mx.implicit",
    summary = string.format("%s has no MX record; mail goes to its own address %s (implicit MX)",
      domain, table.concat(addrs, ", ")),
    explanation = "RFC 5321 §5.1: without MX records, senders deliver to the domain's A/AAAA addresses. "
      .. "This works, but is usually an oversight.",
    advice = "Publish an explicit MX record if " .. domain .. " is meant to receive mail.",
    evidence = { host = domain, preference = 0, addresses = addrs },
  }
  check_addresses(report, target, domain, 0, addrs, addresses)
  report_ipv6_only(report, domain, addresses)
  report:publish("mx.hosts", { { host = domain, preference = 0, implicit = true, addresses = addrs } })
  publish_addresses(target, report, addresses)
end

-- RFC 7505 null MX: a single MX with an empty target ".". True when reported.
local function null_mx(report, domain, hosts, ans)
  local null = false
  for _, h in ipairs(hosts) do if h.host == "" or h.host == "." then null = true end end
  if not null then return false end
  report:finding {
    code = "mx.null",
    summary = string.format("%s publishes a null MX (RFC 7505): it accepts no mail", domain),
    explanation = "A null MX (\"MX 0 .\") is the domain owner's explicit statement that the domain receives "
      .. "no mail. Senders bounce at once (\"does not accept mail (nullMX)\"). Nothing is probed.",
    advice = "This is deliberate on the recipient's side: use another address for this recipient.",
    evidence = { name = domain, records = #hosts, resolver = ans.server },
  }
  return true
end

-- Resolves every MX host concurrently: per host { literal }, { invalid } or
-- { addrs, chain, failures }, in the order of hosts.
local function resolve_host(h)
  -- an IP literal has a colon (IPv6) or only digits and dots (IPv4): a name
  -- with a letter and no colon (nearly every MX host) is none, without
  -- net.parse_address's table (issue 21)
  local host = h.host
  if (find(host, ":", 1, true) or not find(host, "%a")) and net.parse_address(host) then return { literal = true } end
  local ok, why = dns.valid_name(h.host)
  if not ok then return { invalid = why } end
  local addrs, chain, failures, entries = resolve(h.host)
  return { addrs = addrs, chain = chain, failures = failures, entries = entries }
end

-- What a usable MX host gives every domain whose MX it is, when its addresses
-- come from a shared pair of answers (r.entries: from_answers' [4]): worked
-- out once per pair, host, preference and --allow-reserved, and kept with the
-- answers (so per epoch): its addresses' parts (address_part: the mx.addresses
-- entries and reserved-address findings, without building their memo keys
-- again), its mx.hosts entry sealed (util.seal), and the facts of a domain
-- with this host alone, sealed: { entry } as mx.hosts and its addresses'
-- entries as mx.addresses. report:publish takes sealed tables as they are,
-- so such a domain's facts are not copied and sealed per domain (issue 21).
-- Nothing in it names the domain. nil when the answers are not shared (a
-- failed A or AAAA beside addresses).
local seal = util.seal
local function host_slot(r, h, allow)
  local entries = r.entries
  if not entries then return nil end
  allow = allow and true or false
  local by_pref = entries[h.host]
  if not by_pref then by_pref = {}; entries[h.host] = by_pref end
  local by_allow = by_pref[h.preference]
  if not by_allow then by_allow = {}; by_pref[h.preference] = by_allow end
  local slot = by_allow[allow]
  if slot then return slot end
  local parts, list = {}, {}
  for i, a in ipairs(r.addrs) do
    local part = address_part(h.host, h.preference, a, allow)
    parts[i], list[i] = part, part.entry
  end
  local entry = seal({ host = h.host, preference = h.preference, addresses = r.addrs, cname = r.chain })
  slot = { parts = parts, entry = entry, hosts = seal({ entry }), addresses = seal(list),
           -- the host's part of mx.ok's summary
           text = h.preference .. " " .. h.host .. " (" .. table.concat(r.addrs, ", ") .. ")" }
  by_allow[allow] = slot
  return slot
end

-- One host (most domains) is resolved in the rule's own task: no closure and
-- no task for a task.all of one function (issue 21); resolve() still asks A
-- and AAAA concurrently.
local function resolve_hosts(hosts)
  if #hosts == 1 then return { resolve_host(hosts[1]) } end
  local jobs = {}
  for i, h in ipairs(hosts) do
    jobs[i] = function() return resolve_host(h) end
  end
  return task.all(jobs)
end

-- Sorts the resolved MX hosts: invalid names and CNAMEs are reported at once;
-- IP literals and unresolvable hosts are returned for reporting once it is
-- known whether any host is usable; usable hosts go to published/addresses.
local function sort_hosts(target, report, domain, hosts, results, addresses)
  local usable, published, slots = 0, {}, {}
  local unresolved, literals -- made when there is one (most domains have neither)
  local allow = target.options.allow_reserved
  for i, h in ipairs(hosts) do
    local r = results[i]
    if r.literal then
      literals = literals or {}
      literals[#literals + 1] = h
    elseif r.invalid then
      report:finding {
        code = "mx.invalid_name",
        summary = string.format("MX %s of %s is not a valid host name: %s", h.host, domain, r.invalid),
        explanation = "Senders cannot resolve an invalid name.",
        advice = "Correct the MX record.",
        evidence = { host = h.host, preference = h.preference },
      }
    else
      if r.chain then
        report:finding {
          code = "mx.cname",
          summary = string.format("MX %s is an alias (CNAME → %s)", h.host, table.concat(r.chain, " → ")),
          explanation = "RFC 2181 §10.3 forbids MX targets that are CNAMEs. Most senders follow the alias, "
            .. "but some refuse, and it breaks DANE and some TLS checks.",
          advice = "Point the MX record at the canonical name " .. r.chain[#r.chain] .. " directly.",
          evidence = { host = h.host, preference = h.preference, cname = r.chain },
        }
      end
      if #r.addrs == 0 then
        unresolved = unresolved or {}
        unresolved[#unresolved + 1] = { h = h, failures = r.failures }
      else
        usable = usable + 1
        local slot = slots and host_slot(r, h, allow)
        if slot then
          -- check_addresses' work, from the slot
          for _, part in ipairs(slot.parts) do
            if part.finding then report:finding(part.finding) end
            addresses[#addresses + 1] = part.entry
          end
          slots[usable] = slot
        else
          slots = nil
          check_addresses(report, target, h.host, h.preference, r.addrs, addresses)
        end
        published[#published + 1] = { host = h.host, preference = h.preference, addresses = r.addrs,
                                      cname = r.chain }
      end
    end
  end
  -- the facts: one usable host's from its slot; several hosts' as one shared sealed list per
  -- sequence of entries (shared.list); without slots the plain list, sealed at publish
  local hosts_fact, addresses_fact, text = published, nil, nil
  if slots and usable == 1 then
    hosts_fact, addresses_fact, text = slots[1].hosts, slots[1].addresses, slots[1].text
  elseif slots and usable > 1 then
    local entries = {}
    for k, slot in ipairs(slots) do entries[k] = slot.entry end
    hosts_fact = shared.list("mx.hosts", entries)
  end
  return usable, published, unresolved or NONE, literals or NONE, { hosts_fact, addresses_fact, text }
end

-- Reported after the sorting: with no other usable MX host, mail cannot be delivered at all.
local function report_literals(report, domain, literals, usable)
  for _, h in ipairs(literals) do
    report:finding {
      code = "mx.ip_literal",
      severity = usable == 0 and "crit" or "warn",
      summary = string.format("MX %s of %s is an IP address, not a host name", h.host, domain),
      explanation = "RFC 5321 §5.1 and RFC 2181 require MX targets to be host names. Many senders "
        .. "(Postfix among them) treat an address here as an error and will not deliver to it"
        .. (usable == 0 and "; no other MX host is usable." or "."),
      advice = "Publish a host name with an A/AAAA record, and point the MX at that name.",
      evidence = { host = h.host, preference = h.preference },
    }
  end
end

local function report_unresolved(report, unresolved, usable)
  for _, u in ipairs(unresolved) do
    local why = {}
    local timeout = false
    for _, f in ipairs(u.failures) do
      why[#why + 1] = f.type .. " " .. f.status
      if f.status == "timeout" or f.status == "refused" or f.status == "SERVFAIL" then timeout = true end
    end
    report:finding {
      code = "mx.unresolvable",
      severity = timeout and "unknown" or (usable == 0 and "crit" or "warn"),
      summary = string.format("MX %s has no usable address (%s)", u.h.host, table.concat(why, ", ")),
      explanation = timeout
        and "The address lookup did not get an answer, so this MX host could not be checked."
        or ("Senders skip an MX host whose name does not resolve" ..
            (usable == 0 and "; no other MX host is usable, so mail to this domain cannot be delivered."
              or "; other MX hosts remain usable.")),
      advice = "Publish A/AAAA records for " .. u.h.host .. " or remove it from the MX set.",
      evidence = { host = u.h.host, preference = u.h.preference, failures = u.failures },
    }
  end
end

-- mx.ok and the published facts, when at least one MX host is usable.
-- facts: sort_hosts' { mx.hosts, mx.addresses or nil, the summary's text or nil }.
local function report_usable(target, report, domain, ans, port, published, addresses, facts)
  if #published == 0 then return end
  local text = facts[3]
  if not text then
    local parts = {}
    for _, p in ipairs(published) do
      parts[#parts + 1] = p.preference .. " " .. p.host .. " (" .. table.concat(p.addresses, ", ") .. ")"
    end
    text = table.concat(parts, "; ")
  end
  local hosts_fact = facts[1]
  report:finding {
    code = "mx.ok",
    summary = domain .. " has " .. shared.str(#published) .. " usable MX host" .. (#published == 1 and "" or "s") .. ": "
      .. text,
    evidence = { name = domain, resolver = ans.server, port = port, hosts = hosts_fact },
  }
  report:publish("mx.hosts", hosts_fact)
  publish_addresses(target, report, addresses, facts[2])
end

return {
  id = "mx",
  description = "Finds the target's mail hosts (MX, implicit MX, null MX) and their addresses",
  categories = { "dns", "default" },
  provides = { "mx.hosts", "mx.addresses" },
  codes = {
    ["dns.nxdomain"] = "crit", ["dns.servfail"] = "unknown", ["dns.timeout"] = "unknown",
    ["dns.refused"] = "unknown", ["dns.resolver_unreachable"] = "unknown", ["dns.error"] = "unknown",
    ["mx.ok"] = "ok", ["mx.implicit"] = "info", ["mx.null"] = "crit", ["mx.none"] = "crit",
    ["mx.unresolvable"] = "warn", ["mx.cname"] = "warn", ["mx.ip_literal"] = "warn",
    ["mx.reserved_address"] = "warn", ["mx.invalid_name"] = "crit", ["host.unresolvable"] = "crit",
    ["mx.ipv6_only"] = "warn", ["mx.family_skipped"] = "info", ["mx.no_family"] = "crit",
  },
  run = function(target, report)
    local port = target.port or target.options.port or 25
    local addresses = {}
    if target.kind == "address" then return check_address_target(target, report, addresses) end
    if target.kind == "host" then return check_host_target(target, report, addresses) end

    local domain = target.domain
    local ans, err, detail = dns.query(domain, "MX")
    if not ans then return dns_failure(report, domain, "MX", err, detail) end
    if ans.status ~= "NOERROR" then return rcode_failure(report, domain, "MX", ans) end

    local hosts = sorted_hosts(ans.answers)
    if #hosts == 0 then return implicit_mx(target, report, domain, ans, addresses) end
    if null_mx(report, domain, hosts, ans) then return end

    local results = resolve_hosts(hosts)
    local usable, published, unresolved, literals, facts = sort_hosts(target, report, domain, hosts, results,
      addresses)
    report_literals(report, domain, literals, usable)
    report_unresolved(report, unresolved, usable)
    report_ipv6_only(report, domain, addresses)
    report_usable(target, report, domain, ans, port, published, addresses, facts)
  end,
}

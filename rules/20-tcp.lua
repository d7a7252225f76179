-- TCP reachability of every MX address, from every source address, all at
-- once: the verdict says whether the host, a firewall or nobody answered.
-- A connection that succeeds stays open for the smtp rule's dialogue (lib
-- conn): one connection per address, port and source, as a sender makes for
-- one delivery attempt. The failures of one address family are read against
-- the other family of the same host (a broken IPv6 next to a working IPv4 is
-- neither "your side" nor undeliverable, but it has a cost).
local explain = require("tcp_explain")
local shared = require("shared")
local conn = require("conn")

local function family_name(f) return f == 6 and "IPv6" or "IPv4" end

-- What a host whose other family works costs a sender, by the failing family's verdict.
local function family_finding(host, bad_family, bad, good)
  local fam, other = family_name(bad_family), family_name(bad_family == 6 and 4 or 6)
  local slow = false
  local labels, good_labels, local_side = {}, {}, true
  for _, p in ipairs(bad) do
    labels[#labels + 1] = string.format("%s: %s", explain.endpoint(p.address, p.port), p.verdict)
    if p.verdict == "timeout" then slow = true end
    -- "unreachable" without ICMP: this host has no route for the family
    if not (p.verdict == "unreachable" and not p.icmp_from) and p.verdict ~= "local" then local_side = false end
  end
  for _, p in ipairs(good) do good_labels[#good_labels + 1] = explain.endpoint(p.address, p.port) end
  local cost
  if slow then
    cost = "A sender that tries " .. fam .. " first (Exim and most MTAs that sort addresses by RFC 6724; Postfix "
      .. "with inet_protocols = all picks a family at random per attempt by default, smtp_address_preference = any, "
      .. "so about every other attempt; with = " .. fam:lower() .. ", every one) waits for its connect timeout "
      .. "(Postfix smtp_connect_timeout: 30 s) on every delivery before it falls back to " .. other .. "; when the "
      .. fam .. " addresses it tries first use up its address limit (Postfix smtp_mx_address_limit: 5, counting "
      .. "every MX host's addresses), it defers the mail instead: delayed, not lost, but every time."
  else
    cost = "A sender that tries " .. fam .. " first (Exim and most MTAs that sort addresses by RFC 6724; Postfix "
      .. "with inet_protocols = all picks a family at random per attempt by default, smtp_address_preference = any, "
      .. "so about every other attempt; with = " .. fam:lower() .. ", every one) gets an immediate error and "
      .. "falls back to " .. other .. ": little delay, but each failed address counts against its address limit "
      .. "(Postfix smtp_mx_address_limit: 5), and a sender with no " .. other .. " cannot deliver at all."
  end
  local advice
  if local_side then
    advice = "The failure is on this host's side: it has no " .. fam .. " route (ip -" .. bad_family .. " route; "
      .. "ip route get " .. bad[1].address .. "). Give it working " .. fam .. " connectivity, or tell the MTA not to "
      .. "use " .. fam .. " (Postfix: inet_protocols = " .. other:lower() .. ", or smtp_address_preference = "
      .. other:lower() .. ")."
  else
    advice = "Receiver's side: make port 25 on the " .. fam .. " address answer (firewall rules for " .. fam
      .. " are often forgotten: ip6tables/nft inet vs ip), or remove the " .. (bad_family == 6 and "AAAA" or "A")
      .. " record of " .. host .. " until it does. Sender's side, until then: prefer " .. other
      .. " (Postfix: smtp_address_preference = " .. other:lower() .. ") and check this host's own " .. fam
      .. " route and output firewall."
  end
  return {
    code = "tcp.family_fails",
    summary = string.format("%s: port 25 fails over %s (%s) but works over %s: deliverable, with a cost",
      host, fam, table.concat(labels, ", "), other),
    explanation = "The same host accepts connections over " .. other .. " (" .. table.concat(good_labels, ", ")
      .. "), so outbound port 25 is not blocked in general and mail can be delivered. " .. cost,
    advice = advice,
    evidence = { host = host, preference = bad[1].preference, family = fam, failing = labels,
                 working = good_labels, remedy_side = local_side and "sender" or "receiver" },
  }
end

-- The tcp.results entry and the finding of one probe, worked out once per run
-- (shared.memo) and submitted by every check whose MX has the address: in a
-- batch most domains share a few providers' addresses. Besides the probe's
-- result (its key: address, port, source, timeout) they read the MX host's
-- name and preference, whether the host's other family connected (this
-- check's MX set) and the number of --control hosts, so those complete the
-- key; nothing in them names the domain. shared.memo seals the value (read-only
-- from then on): report:publish takes the entry as it is and report:finding
-- converts the finding once per run.
local function address_part(p, r, timeout, controls, key)
  return shared.memo("tcp-part|" .. key .. "|" .. p.host .. "|" .. shared.str(p.preference) .. "|"
      .. tostring(p.other_family_ok) .. "|" .. shared.str(controls), function()
    local d = r.detail or {}
    local e = { host = p.host, preference = p.preference, address = p.address, source = p.source,
                family = p.family, verdict = r.verdict, port = p.port, elapsed_ms = d.elapsed_ms,
                conn_key = r.held }
    -- who sent an ICMP error: the path rule traces only when it was not the MX host
    if d.icmp then
      e.icmp_from, e.icmp_from_destination = d.icmp.from, d.icmp.from_destination
      e.icmp_type, e.icmp_code, e.icmp_text = d.icmp.type, d.icmp.code, d.icmp.text
    end
    e.other_family_ok = p.other_family_ok
    return { entry = e, finding = explain.finding(e, d, timeout, { controls = controls }) }
  end)
end

return {
  id = "tcp",
  description = "Connects to every MX address on the SMTP port and says who answered and how",
  categories = { "network", "default" },
  requires = { "mx.addresses" },
  provides = { "tcp.results" },
  codes = {
    ["tcp.connected"] = "ok", ["tcp.refused"] = "warn", ["tcp.rejected"] = "warn", ["tcp.timeout"] = "warn",
    ["tcp.unreachable"] = "warn", ["tcp.prohibited"] = "warn", ["tcp.local"] = "warn", ["tcp.error"] = "unknown",
    ["tcp.family_fails"] = "warn",
  },
  run = function(target, report)
    local port = target.port or target.options.port or 25
    local timeout = target.options.timeout
    local sources = target.options.source_ips or {}
    if #sources == 0 then sources = { false } end
    local probes, jobs = {}, {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      for _, src in ipairs(sources) do
        local fam_ok = true
        if src then
          local s = net.parse_address(src)
          fam_ok = s and s.family == a.family
        end
        if fam_ok then
          local p = { host = a.host, preference = a.preference, address = a.address, source = src or nil,
                      family = a.family }
          probes[#probes + 1] = p
          -- one probe per address, port and source for the whole run (batch)
          local key = "tcp|" .. a.address .. "|" .. shared.str(port) .. "|" .. tostring(src) .. "|" .. shared.str(timeout)
          jobs[#jobs + 1] = { key, function()
            local ckey = conn.key(a.address, port, src or nil, timeout)
            local sock, verdict, detail = net.connect(a.address, port, { timeout = timeout, source = src or nil })
            if sock then
              -- kept open, before any other check (or worker) reads this result: the smtp rule that
              -- carries the run's dialogue with this address takes it
              conn.hold(ckey, sock, verdict)
              return { verdict = "connected", detail = verdict, held = ckey }
            end
            return { verdict = verdict, detail = detail }
          end }
        end
      end
    end
    local results = shared.all(jobs)
    local held = {}
    for i, p in ipairs(probes) do
      local r = results[i]
      p.verdict, p.port = r.verdict, port
      if r.held then held[#held + 1] = r.held end
    end
    -- per host: which families connected at all
    local works = {}
    for _, p in ipairs(probes) do
      if p.verdict == "connected" then
        works[p.host] = works[p.host] or {}
        works[p.host][p.family] = works[p.host][p.family] or {}
        table.insert(works[p.host][p.family], p)
      end
    end
    for _, p in ipairs(probes) do
      local other = p.family == 6 and 4 or 6
      if p.verdict ~= "connected" and p.verdict ~= "error" and works[p.host] and works[p.host][other]
        and not (works[p.host][p.family]) then
        p.other_family_ok = family_name(other)
      end
    end
    -- the published entry and the finding of each probe: once per run for each address (and every input
    -- they read), submitted by every check that has it
    local controls = #(target.options.control_hosts or {})
    local out, parts, bad_by = {}, {}, {}
    for i, p in ipairs(probes) do
      local a = address_part(p, results[i], timeout, controls, jobs[i][1])
      parts[i], out[i] = a, a.entry
      if p.other_family_ok then
        local k = p.host .. "|" .. shared.str(p.family)
        if not bad_by[k] then
          bad_by[k] = { host = p.host, family = p.family, list = {} }
          bad_by[#bad_by + 1] = bad_by[k]
        end
        table.insert(bad_by[k].list, a.entry)
      end
    end
    for i = 1, #probes do report:finding(parts[i].finding) end
    for _, b in ipairs(bad_by) do
      report:finding(family_finding(b.host, b.family, b.list, works[b.host][b.family == 6 and 4 or 6]))
    end
    -- one sealed list for every check with the same entries (the same addresses and inputs)
    report:publish("tcp.results", shared.list("tcp.results", out))
    -- nobody will carry a dialogue on these connections: close them now
    if not report:pending("smtp.sessions") then
      for _, k in ipairs(held) do conn.release(k) end
    end
  end,
}

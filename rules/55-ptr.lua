-- Reverse DNS of each sender address: a PTR record, forward confirmation
-- (the name resolves back to the address: FCrDNS), and whether the name looks
-- like an end-user pool. Large receivers refuse mail without FCrDNS
-- (Gmail: 550 5.7.25) and score generic names as residential.

-- Label fragments that mark access-network (dynamic/end-user) names.
local GENERIC_WORDS = {
  "dynamic", "dyn", "pool", "dsl", "adsl", "vdsl", "xdsl", "dhcp", "cable", "dial", "dialup", "ppp", "pppoe",
  "broadband", "bb", "customer", "cust", "client", "clients", "residential", "resident", "home", "user", "users",
  "ftth", "fttx", "fiber", "wireless", "wlan", "mobile", "cpe", "nat", "unassigned", "unused", "static-ip",
}

local function tokens(name)
  local t = {}
  for tok in name:lower():gmatch("[a-z]+") do t[tok] = true end
  return t
end

-- Does the name carry the address's own digits ("198-51-100-2", "2.100.51.198",
-- "c6336402")? Returns the matched form.
local function embeds_address(name, addr)
  local n = name:lower()
  local a, b, c, d = addr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    local forms = {
      table.concat({ a, b, c, d }, "[-._]?"), table.concat({ d, c, b, a }, "[-._]?"),
      string.format("%02x%02x%02x%02x", tonumber(a), tonumber(b), tonumber(c), tonumber(d)),
      string.format("%03d%03d%03d%03d", tonumber(a), tonumber(b), tonumber(c), tonumber(d)),
    }
    for _, f in ipairs(forms) do
      local s = n:find(f)
      if s then
        -- digits must not continue the match (198-51-100-2 vs 198-51-100-25)
        local before, after = n:sub(s - 1, s - 1), n:sub(select(2, n:find(f, s)) + 1):sub(1, 1)
        if not before:match("%d") and not after:match("%d") then return f end
      end
    end
    return nil
  end
  -- IPv6: the last 4 hex groups written into the name
  local hex = addr:lower():gsub(":", "")
  if #hex >= 8 and n:gsub("[-.]", ""):find(hex:sub(-8), 1, true) then return hex:sub(-8) end
  return nil
end

local function generic_reason(name, addr)
  local why = {}
  local e = embeds_address(name, addr)
  if e then why[#why + 1] = "contains the address itself" end
  local t = tokens(name)
  for _, w in ipairs(GENERIC_WORDS) do
    if t[w] then why[#why + 1] = "contains \"" .. w .. "\"" end
  end
  if #why == 0 then return nil end
  return table.concat(why, ", ")
end

local function canonical(a)
  local p = net.parse_address(a)
  return p and p.address or a
end

local function check_one(addr)
  local fam = net.parse_address(addr).family
  local ans, err, detail = dns.ptr(addr)
  if not ans then return { state = "error", why = err .. (detail and detail.error and (": " .. detail.error) or "") } end
  if ans.status == "NXDOMAIN" or (ans.status == "NOERROR" and #ans.answers == 0) then
    return { state = "missing", rcode = ans.status, query = dns.reverse_name(addr) }
  end
  if ans.status ~= "NOERROR" then return { state = "error", why = "PTR lookup answered " .. ans.status } end
  local names = {}
  for _, rr in ipairs(ans.answers) do names[#names + 1] = (rr.data:gsub("%.$", "")) end
  table.sort(names)
  -- forward-confirm every name, concurrently
  local jobs = {}
  for i, n in ipairs(names) do
    jobs[i] = function() return table.pack(dns.query(n, fam == 4 and "A" or "AAAA")) end
  end
  local fwd = task.all(jobs)
  local confirmed, forward = nil, {}
  for i, n in ipairs(names) do
    local a = fwd[i][1]
    local got = {}
    if a and a.status == "NOERROR" then
      for _, rr in ipairs(a.answers) do
        got[#got + 1] = rr.data
        if canonical(rr.data) == canonical(addr) then confirmed = confirmed or n end
      end
    end
    forward[n] = #got > 0 and got or (a and a.status or fwd[i][2])
  end
  return { state = confirmed and "ok" or "mismatch", names = names, confirmed = confirmed, forward = forward }
end

return {
  id = "ptr",
  description = "Checks reverse DNS (PTR) and forward confirmation (FCrDNS) of each sender address",
  categories = { "reputation", "dns", "default" },
  codes = { ["ptr.ok"] = "ok", ["ptr.missing"] = "crit", ["ptr.mismatch"] = "warn", ["ptr.generic"] = "warn",
            ["ptr.error"] = "unknown" },
  applies = function(target) return #(target.options.sender_ips or {}) > 0 end,
  run = function(target, report)
    local addrs = target.options.sender_ips
    local jobs = {}
    for i, a in ipairs(addrs) do jobs[i] = function() return check_one(a) end end
    local results = task.all(jobs)
    for i, a in ipairs(addrs) do
      local r = results[i]
      local ev = { subject = a, ptr = r.names, forward = r.forward, query = r.query or dns.reverse_name(a) }
      if r.state == "error" then
        ev.error = r.why
        report:finding {
          code = "ptr.error",
          summary = string.format("Reverse DNS of %s could not be checked: %s", a, r.why),
          explanation = "The PTR lookup got no usable answer, so reverse DNS is unknown.",
          advice = "Check the resolver (--resolver, --trace) and run again.",
          evidence = ev,
        }
      elseif r.state == "missing" then
        report:finding {
          code = "ptr.missing",
          summary = string.format("Sender address %s has no reverse DNS (PTR %s)", a, r.rcode),
          explanation = "Many receivers refuse mail from addresses without a PTR record (Gmail: \"550 5.7.25 "
            .. "The IP address sending this message does not have a PTR record setup\"); others score it as spam.",
          advice = "Ask whoever holds the address block (your hosting or access provider) to set a PTR record "
            .. "for " .. a .. " to your mail server's name, and give that name an " .. (a:find(":") and "AAAA" or "A")
            .. " record pointing back to " .. a .. ".",
          evidence = ev,
        }
      elseif r.state == "mismatch" then
        report:finding {
          code = "ptr.mismatch",
          summary = string.format("Reverse DNS of %s is %s, but that name does not resolve back to %s (no FCrDNS)",
            a, table.concat(r.names, ", "), a),
          explanation = "Forward-confirmed reverse DNS means the PTR name's address records include the sending "
            .. "address. Receivers (Gmail among them) refuse or penalize mail when it does not.",
          advice = "Add an " .. (a:find(":") and "AAAA" or "A") .. " record for " .. r.names[1] .. " pointing to " .. a
            .. ", or have the PTR changed to a name that does.",
          evidence = ev,
        }
      else
        local why = generic_reason(r.confirmed, a)
        if why then
          ev.generic = why
          report:finding {
            code = "ptr.generic",
            summary = string.format("Reverse DNS of %s is %s: it looks like an end-user/dynamic name (%s)", a,
              r.confirmed, why),
            explanation = "The name is forward-confirmed, but names that embed the address or words like "
              .. "dynamic, pool, dsl, dhcp or cable mark access networks. Receivers and blocklists (Spamhaus PBL, "
              .. "many filters) treat mail from them as coming from an infected home computer.",
            advice = "Have the provider set a PTR that names your mail server (e.g. mail.example.com, with a "
              .. "matching forward record), or send through your provider's relay (smarthost).",
            evidence = ev,
          }
        else
          report:finding {
            code = "ptr.ok",
            summary = string.format("Reverse DNS of %s is %s and resolves back (FCrDNS ok)", a, r.confirmed),
            evidence = ev,
          }
        end
      end
    end
  end,
}

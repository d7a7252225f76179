-- The recipient's MX addresses on IP blocklists, as information: a listed MX
-- host is likely compromised or shares a dirty network, which can explain
-- odd behaviour (tarpits, dropped sessions) but is not a block of your mail.
-- Lists are trusted only after their test points answer correctly (the
-- dnsbl rule's result is reused when it ran).
local catalog = require("dnsbl_catalog")
local V = require("dnsbl_verdict")
local shared = require("shared")

-- The lists that serve addresses (ip4 or ip6), in the catalog's order. With
-- neither dnsbl_zones nor dnsbl_key in the options they are the catalog's
-- own lists every run (this file's copy of the catalog, which nothing
-- changes): worked out once. Also returned: per list, V.serves(list, kind)
-- for "ip4" and "ip6". The tables returned are only read.
local default_lists, default_serves, default_sig
local function address_lists(options)
  local fixed = not (options and (options.dnsbl_zones or options.dnsbl_key))
  if fixed and default_lists then return default_lists, default_serves, default_sig end
  local lists, serves, names = {}, {}, {}
  for _, list in ipairs(V.lists_for(catalog, options)) do
    local s4, s6 = V.serves(list, "ip4"), V.serves(list, "ip6")
    if s4 or s6 then
      lists[#lists + 1] = list
      serves[#lists] = { ip4 = s4, ip6 = s6 }
      names[#names + 1] = list.zone .. "=" .. list.name
    end
  end
  -- what names the list set in a memo key (the zones, which the lookups and the trust test depend on)
  local sig = fixed and "catalog" or table.concat(names, ",")
  if fixed then default_lists, default_serves, default_sig = lists, serves, sig end
  return lists, serves, sig
end

-- The dnsbl.mx_listed finding of a listed answer, or nil.
local function listed_finding(a, list, res)
  -- (only answers that may be listings reach it: see run)
  local c = V.classify(list, res)
  if c.state ~= "listed" then return nil end
  local meanings, policy = {}, true
  for _, h in ipairs(c.hits) do
    meanings[#meanings + 1] = h.code .. " = " .. h.meaning
    if not h.policy then policy = false end
  end
  if c.unknown then
    meanings[#meanings + 1] = "also " .. table.concat(c.unknown, ", ") .. " (not in mxdiag's catalog)"
  end
  return {
    code = "dnsbl.mx_listed",
    summary = string.format("The recipient's MX address %s is listed on %s: %s", a.address,
      list.name == list.zone and list.zone or (list.name .. " (" .. list.zone .. ")"),
      table.concat(meanings, "; ")),
    -- a policy listing (Spamhaus PBL) is about sending directly to MX
    -- hosts: it says nothing against a host that receives mail
    explanation = policy
      and ("This is about the recipient's server, not about your mail: the address is in a range marked "
        .. "as not meant to send mail directly to MX hosts (a policy listing, not abuse). For a server "
        .. "that receives your mail this changes nothing; it matters only if that host also sends mail "
        .. "itself (bounces, forwarding) without a relay.")
      or ("This is about the recipient's server, not about your mail: a listed MX host may be "
        .. "compromised or sit in a dirty network. It does not stop your mail by itself."),
    advice = policy and "Nothing to do on your side; information about the recipient's network."
      or "Mention it when you contact the recipient's postmaster; it is theirs to fix.",
    evidence = { host = a.host, preference = a.preference, address = a.address, zone = list.zone,
                 list = list.name, answers = res.answers, txt = res.txt, policy = policy or nil,
                 unknown_codes = c.unknown },
  }
end

return {
  id = "dnsbl-mx",
  description = "Looks up the target's MX addresses on IP blocklists (information only)",
  categories = { "reputation", "dns", "default" },
  requires = { "mx.addresses" },
  wants = { "dnsbl.trust" },
  codes = { ["dnsbl.mx_listed"] = "info" },
  run = function(target, report)
    local lists, serves, sig = address_lists(target.options)
    local servers = dns.servers()
    local known = target.facts["dnsbl.trust"]
    -- one trust test per list per run (the dnsbl rule's verdicts when it ran: the same shared keys)
    local function trust_of()
      local trust, ask, tjobs = {}, {}, {}
      for i, list in ipairs(lists) do
        local k = known and known[list.zone]
        if k then
          trust[i] = k
        else
          ask[#ask + 1] = i
          tjobs[#tjobs + 1] = { "dnsbl-trust|" .. servers .. "|" .. list.zone, function() return V.trust(list) end }
        end
      end
      if #ask > 0 then
        local got = shared.all(tjobs)
        for k, i in ipairs(ask) do trust[i] = got[k] end
      end
      return trust
    end
    -- Each address once (with the first MX host that has it): its lookups on every trusted list that
    -- serves it, once per run for the address (shared: in a batch most domains share a few providers'
    -- addresses, and a check that finds them done builds no job per list), keeping only the answers
    -- that may be listings (an answer with no address and nothing foreign is clean: V.classify's first
    -- two cases), as {list index, answer}.
    local addrs, jobs, keys, seen = {}, {}, {}, {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      local address = a.address
      if not seen[address] then
        seen[address] = true
        addrs[#addrs + 1] = a
        local key = "dnsbl-mx|" .. servers .. "|" .. sig .. "|" .. address
        keys[#keys + 1] = key
        jobs[#jobs + 1] = { key, function()
          local kind = V.subject_kind(address)
          local trust = trust_of()
          local idx, ljobs = {}, {}
          for i, list in ipairs(lists) do
            local sv = serves[i][kind]  -- V.serves(list, kind), kept per list for addresses
            if sv == nil then sv = V.serves(list, kind) end
            if sv and V.trusted(trust[i], kind) then
              idx[#idx + 1] = i
              local zone = list.zone
              ljobs[#ljobs + 1] = { "dnsbl|" .. servers .. "|" .. address .. "|" .. zone, function()
                return table.pack(dnsbl.lookup(address, zone, kind))
              end }
            end
          end
          local got, maybe = shared.all(ljobs), {}
          for k, i in ipairs(idx) do
            local res = got[k][1]
            if res and (res.foreign or #res.answers > 0) then maybe[#maybe + 1] = { i = i, res = res } end
          end
          return maybe
        end }
      end
    end
    local found = shared.all(jobs)
    -- the findings of each address: worked out once per run (they read its answers, the list set, and
    -- the MX host's name and preference: the key names them all)
    for n, a in ipairs(addrs) do
      local maybe = found[n]
      if #maybe > 0 then
        local fs = shared.memo(keys[n] .. "|" .. a.host .. "|" .. shared.str(a.preference), function()
          local out = {}
          for _, m in ipairs(maybe) do
            local f = listed_finding(a, lists[m.i], m.res)
            if f then out[#out + 1] = f end
          end
          return out
        end)
        for _, f in ipairs(fs) do report:finding(f) end
      end
    end
  end,
}

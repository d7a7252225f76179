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
local default_lists, default_serves
local function address_lists(options)
  local fixed = not (options and (options.dnsbl_zones or options.dnsbl_key))
  if fixed and default_lists then return default_lists, default_serves end
  local lists, serves = {}, {}
  for _, list in ipairs(V.lists_for(catalog, options)) do
    local s4, s6 = V.serves(list, "ip4"), V.serves(list, "ip6")
    if s4 or s6 then
      lists[#lists + 1] = list
      serves[#lists] = { ip4 = s4, ip6 = s6 }
    end
  end
  if fixed then default_lists, default_serves = lists, serves end
  return lists, serves
end

return {
  id = "dnsbl-mx",
  description = "Looks up the target's MX addresses on IP blocklists (information only)",
  categories = { "reputation", "dns", "default" },
  requires = { "mx.addresses" },
  wants = { "dnsbl.trust" },
  codes = { ["dnsbl.mx_listed"] = "info" },
  run = function(target, report)
    local known = target.facts["dnsbl.trust"] or {}
    local lists, serves = address_lists(target.options)
    local servers = dns.servers()
    -- the dnsbl rule's verdicts when it ran, else one trust test per list per run
    local trust, ask, tjobs = {}, {}, {}
    for i, list in ipairs(lists) do
      local k = known[list.zone]
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
    local pairs_, jobs = {}, {}
    local seen = {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      local address = a.address
      if not seen[address] then
        seen[address] = true
        local kind = V.subject_kind(address)
        for i, list in ipairs(lists) do
          local s = serves[i][kind]  -- V.serves(list, kind), kept per list for addresses
          if s == nil then s = V.serves(list, kind) end
          if s and V.trusted(trust[i], kind) then
            pairs_[#pairs_ + 1] = { a = a, list = list }
            local zone = list.zone
            jobs[#jobs + 1] = { "dnsbl|" .. servers .. "|" .. address .. "|" .. zone, function()
              return table.pack(dnsbl.lookup(address, zone, kind))
            end }
          end
        end
      end
    end
    local results = shared.all(jobs)
    for k, p in ipairs(pairs_) do
      local res = results[k][1]
      -- an answer with no address and nothing foreign is clean (V.classify's
      -- first two cases): only the others are classified
      local c = res and (res.foreign or #res.answers > 0) and V.classify(p.list, res)
      if c and c.state == "listed" then
        local meanings, policy = {}, true
        for _, h in ipairs(c.hits) do
          meanings[#meanings + 1] = h.code .. " = " .. h.meaning
          if not h.policy then policy = false end
        end
        if c.unknown then
          meanings[#meanings + 1] = "also " .. table.concat(c.unknown, ", ") .. " (not in mxdiag's catalog)"
        end
        report:finding {
          code = "dnsbl.mx_listed",
          summary = string.format("The recipient's MX address %s is listed on %s: %s", p.a.address,
            p.list.name == p.list.zone and p.list.zone or (p.list.name .. " (" .. p.list.zone .. ")"),
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
          evidence = { host = p.a.host, preference = p.a.preference, address = p.a.address, zone = p.list.zone,
                       list = p.list.name, answers = res.answers, txt = res.txt, policy = policy or nil,
                       unknown_codes = c.unknown },
        }
      end
    end
  end,
}

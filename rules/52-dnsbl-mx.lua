-- The recipient's MX addresses on IP blocklists, as information: a listed MX
-- host is likely compromised or shares a dirty network, which can explain
-- odd behaviour (tarpits, dropped sessions) but is not a block of your mail.
-- Lists are trusted only after their test points answer correctly (the
-- dnsbl rule's result is reused when it ran).
local catalog = require("dnsbl_catalog")
local V = require("dnsbl_verdict")
local shared = require("shared")

return {
  id = "dnsbl-mx",
  description = "Looks up the target's MX addresses on IP blocklists (information only)",
  categories = { "reputation", "dns", "default" },
  requires = { "mx.addresses" },
  wants = { "dnsbl.trust" },
  codes = { ["dnsbl.mx_listed"] = "info" },
  run = function(target, report)
    local known = target.facts["dnsbl.trust"] or {}
    local lists, tjobs = {}, {}
    for _, list in ipairs(V.lists_for(catalog, target.options)) do
      if V.serves(list, "ip4") or V.serves(list, "ip6") then
        lists[#lists + 1] = list
        local k = known[list.zone]
        tjobs[#tjobs + 1] = { "dnsbl-trust|" .. dns.servers() .. "|" .. list.zone, function() return V.trust(list) end, known = k }
      end
    end
    -- the dnsbl rule's verdicts when it ran, else one trust test per list per run
    local trust, ask = {}, {}
    for i, j in ipairs(tjobs) do
      if j.known then trust[i] = j.known else ask[#ask + 1] = i end
    end
    if #ask > 0 then
      local got = shared.all((function()
        local l = {}
        for _, i in ipairs(ask) do l[#l + 1] = tjobs[i] end
        return l
      end)())
      for k, i in ipairs(ask) do trust[i] = got[k] end
    end
    local pairs_, jobs = {}, {}
    local seen = {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      if not seen[a.address] then
        seen[a.address] = true
        local kind = V.subject_kind(a.address)
        for i, list in ipairs(lists) do
          if V.serves(list, kind) and V.trusted(trust[i], kind) then
            pairs_[#pairs_ + 1] = { a = a, list = list }
            jobs[#jobs + 1] = { "dnsbl|" .. dns.servers() .. "|" .. a.address .. "|" .. list.zone, function()
              return table.pack(dnsbl.lookup(a.address, list.zone, kind))
            end }
          end
        end
      end
    end
    local results = shared.all(jobs)
    for k, p in ipairs(pairs_) do
      local res = results[k][1]
      local c = res and V.classify(p.list, res)
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

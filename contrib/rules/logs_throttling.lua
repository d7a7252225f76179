-- A site logs rule (kind = "logs", runs in `mxdiag logs`): recognise the
-- large providers' throttling replies as a cause of their own. The shipped
-- patterns file "421 4.7.28 ... unusual rate of unsolicited mail" under other or
-- greeting_reject like any refusal; this site knows these replies mean "send
-- slower", not "you are broken", and wants them named with their provider.
--
-- The cause itself is data since issue 17: contrib/rules/lib/log_patterns.lua
-- files these replies under "provider_throttled" in the log parser (counted in
-- the fact `logs`, the histogram and the scope verdict); this rule adds the
-- provider's name and its share, which a cause alone does not say.
--
-- It reads the failures of the files `mxdiag logs` read (target.options.log_files)
-- once more through log.events, matches each reply against THROTTLES, and
-- reports per provider. Edit THROTTLES for the providers your mail goes to.
-- Install: copy to /etc/mxdiag/rules.d/ (or pass --rules-dir contrib/rules).

-- provider -> Lua patterns of its throttling replies (matched against the reply, lower-cased)
local THROTTLES = {
  { provider = "Gmail", patterns = { "4%.7%.28", "unusual rate of unsolicited mail", "4%.7%.0 try again later, closing connection" } },
  { provider = "Microsoft", patterns = { "4%.7%.650", "temporarily rate limited", "s775" } },
  { provider = "Yahoo", patterns = { "%[tss04%]", "%[tsss04%]", "temporarily deferred due to unexpected volume" } },
}

local MAX_EVENTS = 100000

return {
  id = "site-logs-throttling",
  kind = "logs",
  description = "site: the large providers' throttling replies as a cause of their own (mxdiag logs)",
  categories = { "logs", "site" },
  codes = { ["throttle.provider"] = "warn" },
  run = function(target, report)
    local L = target.facts.logs
    if L.total.failures == 0 then return end
    local files = target.options.log_files
    local filter = { files = files, failures = true, limit = MAX_EVENTS, since = L.since, ["until"] = L["until"],
      domain = L.domain }
    local it, info = log.events(filter)
    if not it then return end
    local hits = {} -- provider -> {count, domains = {d -> n}, sample}
    for ev in it do
      local reply = ev.reply and ev.reply:lower()
      if reply and not ev["local"] and ev.status ~= "attempt" then
        for _, t in ipairs(THROTTLES) do
          local matched = false
          for _, p in ipairs(t.patterns) do
            if reply:find(p) then matched = true; break end
          end
          if matched then
            local h = hits[t.provider]
            if not h then h = { count = 0, domains = {} }; hits[t.provider] = h end
            h.count = h.count + 1
            if ev.domain then h.domains[ev.domain] = (h.domains[ev.domain] or 0) + 1 end
            h.sample = h.sample or ev.reply
            break
          end
        end
      end
    end
    local names = {}
    for p in pairs(hits) do names[#names + 1] = p end
    table.sort(names)
    for _, p in ipairs(names) do
      local h = hits[p]
      local doms = {}
      for d, n in pairs(h.domains) do doms[#doms + 1] = { domain = d, failures = n } end
      table.sort(doms, function(a, b) return a.failures > b.failures or (a.failures == b.failures and a.domain < b.domain) end)
      local share = h.count / L.total.failures
      report:finding {
        code = "throttle.provider",
        summary = string.format("%s throttles this server: %d of the %d failed deliveries to remote servers "
          .. "(%d%%) were its rate-limit replies", p, h.count, L.total.failures, math.floor(share * 100 + 0.5)),
        explanation = string.format("%s answers \"send slower\" with these replies: the mail is deferred and retried, "
          .. "not lost. A reply: %s", p, h.sample or "-"),
        advice = "Lower the concurrency and rate towards " .. p .. " (Postfix: a transport for its domains with "
          .. "smtp_destination_concurrency_limit = 2 and smtp_destination_rate_delay = 1s), warm up a new IP "
          .. "slowly, and check the provider's postmaster tools for complaints.",
        evidence = { provider = p, failures = h.count, share = share, domains = doms,
          truncated = info and info.truncated or false },
      }
    end
  end,
}

-- Run-level site rule: our own sending addresses on IP blocklists, checked
-- once per invocation (scope = "run"), not once per domain of a batch, so a
-- listing is reported once in the summary instead of turning every domain
-- CRITICAL. It uses the engine's trust logic (lib/dnsbl_verdict.lua: a list
-- whose RFC 5782 test points do not answer as documented is not believed)
-- and the catalog (lib/dnsbl_catalog.lua) for what an answer means. The
-- addresses are a rule option:
--   rule_options: {site-sender-reputation: {senders: [192.0.2.25, 198.51.100.7]}}
-- optionally `lists: [zen.spamhaus.org]` to ask only some zones.
local catalog = require("dnsbl_catalog")
local verdict = require("dnsbl_verdict")

return {
  id = "site-sender-reputation",
  description = "Our sending addresses (option senders) on trusted IP blocklists, once per run",
  categories = { "site", "dnsbl" },
  scope = "run",
  options = { senders = "list", lists = "list" },
  codes = {
    ["ourip.clean"] = "ok",
    ["ourip.listed"] = "crit",
    ["ourip.untrusted"] = "unknown",
  },
  run = function(target, report)
    local senders = report.options.senders or {}
    local only
    if report.options.lists then
      only = {}
      for _, z in ipairs(report.options.lists) do only[z] = true end
    end
    for _, list in ipairs(catalog.lists) do
      if (not only or only[list.zone]) and verdict.serves(list, "ip4") then
        local tr = verdict.trust(list)
        if not tr.ok then
          report:finding {
            code = "ourip.untrusted",
            summary = string.format("%s: not asked about our addresses, its test points failed (%s)", list.name, tr.reason or "?"),
            evidence = { list = list.name, zone = list.zone, reason = tr.reason },
          }
        else
          for _, ip in ipairs(senders) do
            local res, st = dnsbl.lookup(ip, list.zone, "ip")
            local c = res and verdict.classify(list, res) or { state = "error", reason = st }
            if c.state == "listed" then
              local hit = c.hits[1]
              report:finding {
                code = "ourip.listed",
                summary = string.format("our sending address %s is listed on %s (%s)", ip, list.name, hit.meaning or "?"),
                advice = list.delist and ("Find the cause, then ask for removal: " .. list.delist) or nil,
                evidence = { address = ip, list = list.name, zone = list.zone, answers = res.answers, txt = res.txt },
              }
            elseif c.state == "clean" then
              report:finding {
                code = "ourip.clean",
                summary = string.format("our sending address %s is not listed on %s", ip, list.name),
                evidence = { address = ip, list = list.name, zone = list.zone },
              }
            else
              report:finding {
                code = "ourip.untrusted",
                summary = string.format("%s: no usable answer about %s (%s)", list.name, ip, c.reason or c.state),
                evidence = { address = ip, list = list.name, zone = list.zone, state = c.state },
              }
            end
          end
        end
      end
    end
  end,
}

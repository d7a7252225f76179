-- Source-address isolation: with two or more --source-ip addresses the tcp
-- rule probes every MX address from each. Refused or dropped from one source
-- and accepted from another means the block is tied to that source address
-- (its reputation), not to the MX host or the network path.
local FAIL = { refused = true, timeout = true, rejected = true, prohibited = true }

local endpoint = require("tcp_explain").endpoint

return {
  id = "source",
  description = "Compares connections from several source addresses to find blocks tied to one address",
  categories = { "network", "reputation", "default" },
  requires = { "tcp.results" },
  codes = { ["source.reputation_block"] = "crit" },
  applies = function(target) return #(target.options.source_ips or {}) >= 2 end,
  run = function(target, report)
    local by_addr, order = {}, {}
    for _, r in ipairs(target.facts["tcp.results"]) do
      if r.source then
        local k = r.address .. "|" .. tostring(r.port)
        if not by_addr[k] then by_addr[k] = { host = r.host, preference = r.preference, address = r.address,
                                              port = r.port, ok = {}, bad = {} }; order[#order + 1] = k end
        local g = by_addr[k]
        if r.verdict == "connected" then g.ok[#g.ok + 1] = r.source
        elseif FAIL[r.verdict] then g.bad[#g.bad + 1] = { source = r.source, verdict = r.verdict } end
      end
    end
    for _, k in ipairs(order) do
      local g = by_addr[k]
      if #g.ok > 0 and #g.bad > 0 then
        local bad, how = {}, {}
        for _, b in ipairs(g.bad) do
          bad[#bad + 1] = b.source
          how[#how + 1] = b.source .. ": " .. b.verdict
        end
        report:finding {
          code = "source.reputation_block",
          summary = string.format("%s (%s) blocks connections from %s (%s) but accepts them from %s",
            endpoint(g.address, g.port), g.host, table.concat(bad, ", "), table.concat(how, "; "), table.concat(g.ok, ", ")),
          explanation = "The same MX host, at the same moment, accepted a connection from one of your addresses "
            .. "and refused or dropped one from another. The host and the path work: the block is aimed at the "
            .. "refused source address, usually because of its reputation (a blocklist, a local deny list, or "
            .. "rate limits for that address).",
          advice = "Check the refused address's reputation (--sender-ip " .. bad[1] .. ": DNSBLs, reverse DNS) and "
            .. "ask the receiving side's postmaster which list or rule blocks it; until then, send from "
            .. g.ok[1] .. " (smtp_bind_address in Postfix).",
          evidence = { host = g.host, preference = g.preference, address = g.address, port = g.port,
                       refused_sources = bad, accepted_sources = g.ok, verdicts = how },
        }
      end
    end
  end,
}

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
        elseif FAIL[r.verdict] then
          -- turned away by the MX host itself (a reset, or its own ICMP), or lost on the way (silence, or an
          -- ICMP error from a device on the path): only the first is aimed at the address by the receiver
          local by_host = r.verdict == "refused" or r.icmp_from_destination == true
          g.bad[#g.bad + 1] = { source = r.source, verdict = r.verdict, by_host = by_host }
        end
      end
    end
    for _, k in ipairs(order) do
      local g = by_addr[k]
      if #g.ok > 0 and #g.bad > 0 then
        local bad, how, lost = {}, {}, {}
        for _, b in ipairs(g.bad) do
          bad[#bad + 1] = b.source
          how[#how + 1] = b.source .. ": " .. b.verdict
          if not b.by_host then lost[#lost + 1] = b.source end
        end
        local explanation, advice
        if #lost == 0 then
          explanation = "The same MX host, at the same moment, accepted a connection from one of your addresses "
            .. "and refused one from another. The host and the path work: the block is aimed at the "
            .. "refused source address, usually because of its reputation (a blocklist, a local deny list, or "
            .. "rate limits for that address)."
          advice = "Check the refused address's reputation (--sender-ip " .. bad[1] .. ": DNSBLs, reverse DNS) and "
            .. "ask the receiving side's postmaster which list or rule blocks it; until then, send from "
            .. g.ok[1] .. " (smtp_bind_address in Postfix)."
        else
          -- silence from one source proves less: that address's own way there may be what fails
          explanation = "The same MX host, at the same moment, accepted a connection from one of your addresses; "
            .. "from " .. table.concat(lost, ", ") .. " nothing came back from the host (no answer, or an ICMP "
            .. "error from a device on the path). The host works. The receiver may drop that address (its "
            .. "reputation: a blocklist, a deny list), but the same silence comes from that address's own "
            .. "route: an output rule on this host for it, an uplink or provider that blocks port 25 for it, or "
            .. "a network that does not route replies back to it."
          advice = "Tell the two apart from " .. lost[1] .. ": run mxdiag check --source-ip " .. lost[1]
            .. " --control HOST (a mail host known to accept port 25) with this target; if the control fails "
            .. "too, the address's route or this side blocks it (ip route get " .. g.address .. " from " .. lost[1]
            .. "; mxdiag local). If only this host fails, check the address's reputation (--sender-ip "
            .. lost[1] .. ") and ask the receiving side's postmaster. Until then, send from " .. g.ok[1]
            .. " (smtp_bind_address in Postfix)."
        end
        report:finding {
          code = "source.reputation_block",
          summary = #lost == 0
            and string.format("%s (%s) blocks connections from %s (%s) but accepts them from %s",
              endpoint(g.address, g.port), g.host, table.concat(bad, ", "), table.concat(how, "; "), table.concat(g.ok, ", "))
            or string.format("%s (%s) accepts connections from %s but not from %s (%s)",
              endpoint(g.address, g.port), g.host, table.concat(g.ok, ", "), table.concat(bad, ", "), table.concat(how, "; ")),
          explanation = explanation,
          advice = advice,
          evidence = { host = g.host, preference = g.preference, address = g.address, port = g.port,
                       refused_sources = bad, accepted_sources = g.ok, verdicts = how },
        }
      end
    end
  end,
}

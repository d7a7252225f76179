-- Site rule: our outbound mail must leave through the relay (smarthost).
-- Many networks block direct port 25 to the internet; what matters then is
-- whether the relay answers, not whether the recipient's MX does from here.
-- Edit RELAY for your site. Install: copy to /etc/mxdiag/rules.d/.
local RELAY = {
  name = "our smarthost",
  address = "192.0.2.21",   -- an IP address (resolve names beforehand: rules connect to addresses)
  port = 25,                -- 25, 587 (submission) or 465
}

return {
  id = "site-relay",
  description = "Checks that the outbound relay all mail must go through accepts connections",
  categories = { "site", "network" },
  requires = { "tcp.results" },
  codes = {
    ["relay.ok"] = "ok",
    ["relay.unreachable"] = "crit",
    ["relay.direct_possible"] = "info",
  },
  run = function(target, report)
    local ev = { relay = RELAY.name, address = RELAY.address, port = RELAY.port }
    local sock, verdict, detail = net.connect(RELAY.address, RELAY.port, { timeout = target.options.timeout })
    if sock then
      sock:close()
      ev.elapsed_ms = verdict.elapsed_ms -- on success the second value is the detail table
      report:finding {
        code = "relay.ok",
        summary = string.format("The relay %s (%s:%d) accepts connections", RELAY.name, RELAY.address, RELAY.port),
        evidence = ev,
      }
    else
      ev.verdict, ev.error, ev.elapsed_ms = verdict, detail and detail.error, detail and detail.elapsed_ms
      report:finding {
        code = "relay.unreachable",
        summary = string.format("The relay %s (%s:%d) does not accept connections: %s", RELAY.name,
          RELAY.address, RELAY.port, verdict),
        explanation = "Site policy sends all outbound mail through this relay, so while it is unreachable "
          .. "no mail leaves, whatever the recipient's servers do.",
        advice = "Check the relay host and its MTA first; the findings about the recipient's MX matter only "
          .. "once the relay works.",
        evidence = ev,
      }
    end
    local direct = 0
    for _, r in ipairs(target.facts["tcp.results"]) do
      if r.verdict == "connected" then direct = direct + 1 end
    end
    if direct > 0 then
      report:finding {
        code = "relay.direct_possible",
        summary = string.format("Direct connections to %d MX address%s work from here, but site policy routes "
          .. "mail through the relay", direct, direct == 1 and "" or "es"),
        explanation = "This host can reach the recipient directly; the MTA should still use the relay "
          .. "(relayhost / smarthost), or mail bypasses the site's outbound policy.",
        evidence = { direct = direct, relay = RELAY.name },
      }
    end
  end,
}

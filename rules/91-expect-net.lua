-- Expectations from a batch list about connections: `accepts_from` (these
-- source addresses must be able to connect to an MX). STARTTLS: 92-expect-smtp.lua.
return {
  id = "expect-net",
  description = "Compares TCP results with the accepts_from expectation of a batch list",
  categories = { "expect", "network", "default" },
  requires = { "tcp.results" },
  codes = { ["expect.accepts_from"] = "warn", ["expect.unverified"] = "info", ["expect.met"] = "ok" },
  applies = function(target)
    local e = target.options.expect
    return type(e) == "table" and e.accepts_from ~= nil
  end,
  run = function(target, report)
    local e = target.options.expect
    local results = target.facts["tcp.results"]
    if e.accepts_from then
      local probed = {}
      for _, s in ipairs(target.options.source_ips or {}) do probed[s] = true end
      for _, src in ipairs(e.accepts_from) do
        local ok, tried, failed = false, false, {}
        for _, r in ipairs(results) do
          if r.source == src then
            tried = true
            if r.verdict == "connected" then ok = true
            else failed[#failed + 1] = string.format("%s[%s]: %s", r.host, r.address, r.verdict) end
          end
        end
        local ev = { source = src, failed = failed }
        if ok then
          report:finding { code = "expect.met", summary = string.format("An MX accepts connections from %s, as expected", src),
                           evidence = ev }
        elseif not tried then
          report:finding {
            code = "expect.unverified",
            summary = string.format("accepts_from %s was not verified: it is not one of the source addresses", src),
            explanation = "Connections are only made from the run's source addresses.",
            advice = "Add it to source_ips (defaults: or the domain's entry), or --source-ip.",
            evidence = { source = src, source_ips = probed },
          }
        else
          report:finding {
            code = "expect.accepts_from",
            summary = string.format("No MX accepts connections from %s, though the list expects it to", src),
            explanation = "The list says mail from this address must get through; every connection from it failed "
              .. "(see the tcp findings for who answered and how).",
            advice = "Check for a block of this source address on the receiving side or on the way.",
            evidence = ev,
          }
        end
      end
    end
  end,
}

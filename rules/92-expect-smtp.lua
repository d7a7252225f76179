-- Expectation from a batch list about STARTTLS (`expect: {starttls: true}`),
-- compared with the SMTP sessions of the smtp rule.
return {
  id = "expect-smtp",
  description = "Compares SMTP sessions with the starttls expectation of a batch list",
  categories = { "expect", "smtp", "default" },
  requires = { "smtp.sessions" },
  codes = { ["expect.starttls"] = "warn", ["expect.unverified"] = "info", ["expect.met"] = "ok" },
  applies = function(target)
    local e = target.options.expect
    return type(e) == "table" and e.starttls ~= nil
  end,
  run = function(target, report)
    local want = target.options.expect.starttls
    local with, without, talked = {}, {}, 0
    for _, s in ipairs(target.facts["smtp.sessions"]) do
      if s.esmtp then
        talked = talked + 1
        local label = string.format("%s[%s]", s.host or s.address, s.address)
        if s.starttls and s.tls then with[#with + 1] = label else without[#without + 1] = label end
      end
    end
    local ev = { expected = want, with_tls = with, without_tls = without }
    if talked == 0 then
      report:finding { code = "expect.unverified", summary = "starttls expectation not verified: no MX completed EHLO",
                       evidence = ev }
    elseif (want and #without == 0) or (not want and #with == 0) then
      report:finding { code = "expect.met", summary = want and "Every MX that answered offers working STARTTLS, as expected"
                         or "No MX offers STARTTLS, as expected", evidence = ev }
    else
      report:finding {
        code = "expect.starttls",
        summary = want and string.format("STARTTLS expected but missing or failing on %s", table.concat(without, ", "))
          or string.format("STARTTLS not expected but offered by %s", table.concat(with, ", ")),
        explanation = "The list says whether this domain's MX hosts encrypt with STARTTLS; at least one now differs "
          .. "(see the smtp and tls findings for the details).",
        advice = "Fix the MX's TLS configuration, or update the expectation in the list.",
        evidence = ev,
      }
    end
  end,
}

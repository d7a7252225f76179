-- A site rule written against the documented facts and rule options (RULES.md
-- "Shipped facts: fields and types", "Rule options"): the certificate comes
-- from smtp.sessions (no second connection), the threshold from
-- rule_options: / --rule-arg cert-expiry.days=N.
return {
  id = "cert-expiry",
  description = "Warns when an MX certificate expires within the site's threshold (option days)",
  requires = { "smtp.sessions" },
  options = { days = "integer" },
  codes = { ["site.cert_expiring"] = "crit", ["site.cert_ok"] = "ok" },
  run = function(target, report)
    local days = report.options.days or 14
    for _, s in ipairs(target.facts["smtp.sessions"]) do
      local c = s.certificate
      if c then
        local soon = c.days_left < days
        report:finding {
          code = soon and "site.cert_expiring" or "site.cert_ok",
          summary = string.format("%s[%s]: certificate %s expires in %d days (threshold %d)", s.host, s.address,
            c.subject, c.days_left, days),
          evidence = { host = s.host, address = s.address, not_after = c.not_after, days_left = c.days_left },
        }
      end
    end
  end,
}

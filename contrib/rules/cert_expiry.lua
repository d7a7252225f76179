-- Site rule: an MX certificate that expires within N days (default 14) is
-- critical. The certificate comes from the smtp rule's fact smtp.sessions
-- (RULES.md "Shipped facts"): no second connection, no cache key. N is the
-- rule option `days` (rule_options: {site-cert-expiry: {days: 21}} or
-- --rule-arg site-cert-expiry.days=21).
return {
  id = "site-cert-expiry",
  description = "An MX certificate expires within the site's threshold (option days, default 14)",
  categories = { "site", "tls" },
  options = { days = "integer" },
  requires = { "smtp.sessions" },
  codes = {
    ["certexp.ok"] = "ok",
    ["certexp.soon"] = "crit",
  },
  run = function(target, report)
    local days = report.options.days or 14
    for _, s in ipairs(target.facts["smtp.sessions"]) do
      local c = s.certificate
      if c then
        local soon = c.days_left < days
        report:finding {
          code = soon and "certexp.soon" or "certexp.ok",
          summary = string.format("%s[%s]: certificate %s expires in %d days (%s; threshold %d days)", s.host, s.address,
            c.subject, c.days_left, c.not_after, days),
          advice = soon and "Renew the certificate now (and check why the automatic renewal did not)." or nil,
          evidence = { host = s.host, address = s.address, subject = c.subject, issuer = c.issuer,
                       not_after = c.not_after, days_left = c.days_left, threshold = days },
        }
      end
    end
  end,
}

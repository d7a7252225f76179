-- Site rule: a partner's MX must accept our connection and greet (220)
-- within a time limit; a finding names the partner's contact so whoever
-- reads it knows whom to call. No table in this file: the partners and the
-- limit are rule options (RULES.md "Rule options", "Tutorial 2"):
--
--   rule_options:                      # /etc/mxdiag/config.yaml or a batch list's defaults:
--     site-partner-greet:
--       contacts: {partner.example: "noc@partner.example, +1 555 0100"}
--       max_greeting_ms: 2000
--
-- or --rule-arg 'site-partner-greet.contacts={"partner.example":"noc@partner.example"}'.
-- A domain without a contact is not a partner: the rule says nothing there.
local function norm(h) return (string.lower(h):gsub("%.$", "")) end

return {
  id = "site-partner-greet",
  description = "A partner's MX hosts accept and greet within the agreed time (contact from rule options)",
  categories = { "site", "smtp" },
  options = { contacts = "map", max_greeting_ms = "number" },
  requires = { "tcp.results", "smtp.sessions" },
  codes = {
    ["partner.greets"] = "ok",
    ["partner.refuses"] = "crit",
    ["partner.no_greeting"] = "crit",
    ["partner.slow_greeting"] = "warn",
  },
  applies = function(target) return target.kind == "domain" end,
  run = function(target, report)
    local contacts = report.options.contacts or {}
    local contact = contacts[norm(target.domain)] or contacts[target.domain]
    if not contact then return end
    local limit = report.options.max_greeting_ms or 2000
    local sessions = {}
    for _, s in ipairs(target.facts["smtp.sessions"]) do sessions[s.address] = s end
    for _, t in ipairs(target.facts["tcp.results"]) do
      local ev = { host = t.host, address = t.address, contact = contact, limit_ms = limit }
      local s = sessions[t.address]
      if t.verdict ~= "connected" then
        ev.verdict = t.verdict
        report:finding {
          code = "partner.refuses",
          summary = string.format("%s[%s] does not accept connections (%s); partner contact: %s", t.host, t.address,
            t.verdict, contact),
          advice = "Tell the partner (" .. contact .. "): mail for " .. target.domain .. " cannot be delivered to this host.",
          evidence = ev,
        }
      elseif not s or s.greeting ~= 220 then
        ev.greeting = s and s.greeting or nil
        ev.greeting_text = s and s.greeting_text or nil
        report:finding {
          code = "partner.no_greeting",
          summary = string.format("%s[%s] accepts the connection but does not greet with 220 (%s); partner contact: %s",
            t.host, t.address, s and s.greeting and tostring(s.greeting) or "no greeting", contact),
          evidence = ev,
        }
      elseif (s.greeting_ms or 0) > limit then
        ev.greeting_ms = s.greeting_ms
        report:finding {
          code = "partner.slow_greeting",
          summary = string.format("%s[%s] greets after %d ms (agreed: %d ms); partner contact: %s", t.host, t.address,
            s.greeting_ms, limit, contact),
          evidence = ev,
        }
      else
        ev.greeting_ms = s.greeting_ms
        report:finding {
          code = "partner.greets",
          summary = string.format("%s[%s] greets within %d ms", t.host, t.address, limit),
          evidence = ev,
        }
      end
    end
  end,
}

-- Site rule: our partners' domains must have the MX hosts we agreed on.
-- A partner that moves its mail (new provider, takeover, misconfiguration)
-- shows up here before mail goes astray. Edit PARTNERS for your site.
local PARTNERS = {
  -- domain               MX host names we expect (any order; all must be present, no others)
  ["healthy.test"]  = { "mx.healthy.test" },
  ["backup.test"]   = { "mx1.backup.test", "mx2.backup.test" },
  ["mxcname.test"]  = { "mx.partner-hosting.test" },
}

local function norm(h) return (string.lower(h):gsub("%.$", "")) end

return {
  id = "site-partner-mx",
  description = "Compares a partner domain's MX hosts with the ones agreed with the partner",
  categories = { "site", "dns" },
  requires = { "mx.hosts" },
  codes = {
    ["partner.mx_ok"] = "ok",
    ["partner.mx_unexpected"] = "warn",
    ["partner.mx_missing"] = "crit",
  },
  applies = function(target)
    return target.kind == "domain" and PARTNERS[norm(target.domain)] ~= nil
  end,
  run = function(target, report)
    local want = {}
    for _, h in ipairs(PARTNERS[norm(target.domain)]) do want[norm(h)] = true end
    local have, unexpected, missing, found = {}, {}, {}, {}
    for _, h in ipairs(target.facts["mx.hosts"]) do
      local n = norm(h.host)
      have[n] = true
      if want[n] then found[#found + 1] = n else unexpected[#unexpected + 1] = n end
    end
    for h in pairs(want) do if not have[h] then missing[#missing + 1] = h end end
    table.sort(missing)
    table.sort(found)
    local ev = { name = target.domain, expected = PARTNERS[norm(target.domain)], found = found,
                 unexpected = unexpected, missing = missing }
    if #found == 0 then
      report:finding {
        code = "partner.mx_missing",
        summary = string.format("None of the MX hosts agreed with %s is in its MX records (expected %s)",
          target.domain, table.concat(PARTNERS[norm(target.domain)], ", ")),
        explanation = "Mail for this partner now goes to servers that were not agreed on: the partner moved "
          .. "its mail, or its DNS is wrong or hijacked.",
        advice = "Confirm the change with the partner through a known contact before trusting the new hosts.",
        evidence = ev,
      }
    elseif #unexpected > 0 or #missing > 0 then
      report:finding {
        code = "partner.mx_unexpected",
        summary = string.format("%s's MX hosts differ from the agreement (unexpected: %s; missing: %s)",
          target.domain, #unexpected > 0 and table.concat(unexpected, ", ") or "none",
          #missing > 0 and table.concat(missing, ", ") or "none"),
        explanation = "Part of the partner's mail routing changed.",
        advice = "Ask the partner whether the change is intended, then update PARTNERS in this rule.",
        evidence = ev,
      }
    else
      report:finding {
        code = "partner.mx_ok",
        summary = string.format("%s has exactly the agreed MX hosts (%s)", target.domain, table.concat(found, ", ")),
        evidence = ev,
      }
    end
  end,
}

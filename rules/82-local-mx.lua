-- The local MTA's settings against the target's MX addresses: with
-- `check --local DOMAIN` (or `mxdiag local DOMAIN`), can this host's Postfix
-- reach the addresses the MX records name at all?
local function family_of(a) return a:find(":", 1, true) and 6 or 4 end

return {
  id = "local-mx",
  description = "Compares this host's Postfix inet_protocols with the target's MX address families",
  categories = { "local" },
  requires = { "local.mta", "mx.addresses" },
  codes = { ["local.postfix_setting"] = "info" },
  applies = function(target) return target.options["local"] == true end,
  run = function(target, report)
    local pf = target.facts["local.mta"].postfix
    if not pf or not pf.inet_protocols then return end
    local proto = pf.inet_protocols:lower():gsub("%s", "")
    local can = { [4] = proto == "all" or proto:find("ipv4") ~= nil, [6] = proto == "all" or proto:find("ipv6") ~= nil }
    local usable, unusable = {}, {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      local label = string.format("%s[%s]", a.host, a.address)
      if can[a.family or family_of(a.address)] then usable[#usable + 1] = label else unusable[#unusable + 1] = label end
    end
    if #unusable == 0 then return end
    local none = #usable == 0
    report:finding {
      code = "local.postfix_setting",
      severity = none and "crit" or "info",
      summary = string.format("Postfix: inet_protocols = %s, so it will not use %s%s", pf.inet_protocols,
        table.concat(unusable, ", "), none and ": no MX address of the target is usable" or ""),
      explanation = "Postfix connects only over the address families in inet_protocols. "
        .. (none and "Every MX address of this target is of the other family, so Postfix defers the mail "
              .. "('No route to host' / 'Network is unreachable' or no usable address) until it bounces."
            or "It still delivers through the other addresses: " .. table.concat(usable, ", ") .. "."),
      advice = none and "Set inet_protocols = all (postconf -e inet_protocols=all; systemctl restart postfix) if this "
          .. "host has connectivity in that family, or relay through a host that has."
        or "Nothing to do unless the usable addresses fail.",
      evidence = { setting = "inet_protocols", value = pf.inet_protocols, unusable = unusable, usable = usable },
    }
  end,
}

-- Site rule: source addresses our mail must not leave from (listed on a
-- blocklist, being decommissioned, shared with a noisy neighbour). Warns
-- when probes are asked to use one, and checks which address this host
-- actually picks towards the first MX address. Edit BLOCKED for your site.
local BLOCKED = {
  ["198.51.100.1"] = "listed on UCEPROTECT level 1 since the March incident; do not use until delisted",
  ["2001:db8::bad"] = "old IPv6 range being returned to the provider",
}

local function canon(a)
  local p = net.parse_address(a)
  return p and p.address or a
end

return {
  id = "site-source-blocklist",
  description = "Checks that mail does not leave from a source address the site has blocklisted",
  categories = { "site", "network" },
  requires = { "mx.addresses" },
  codes = {
    ["srcpolicy.ok"] = "ok",
    ["srcpolicy.blocked_source"] = "crit",
  },
  run = function(target, report)
    local blocked = {}
    for a, why in pairs(BLOCKED) do blocked[canon(a)] = why end
    local bad = {}
    local function check(addr, how)
      if addr and blocked[addr] and not bad[addr] then
        bad[addr] = true
        report:finding {
          code = "srcpolicy.blocked_source",
          summary = string.format("%s is on the site's list of source addresses not to use (%s)", addr, how),
          explanation = "Reason on the list: " .. blocked[addr],
          advice = "Bind the MTA to another address (Postfix: smtp_bind_address / a transport with "
            .. "-o smtp_bind_address=...), or remove the address from the list once the reason is gone.",
          evidence = { source = addr, reason = blocked[addr], how = how },
        }
      end
    end
    for _, s in ipairs(target.options.source_ips or {}) do check(s, "given with --source-ip") end
    for _, s in ipairs(target.options.sender_ips or {}) do check(s, "given with --sender-ip") end
    -- which address does this host pick by itself? (connect reports the local address)
    local first = target.facts["mx.addresses"][1]
    local used
    if first and #(target.options.source_ips or {}) == 0 then
      local port = target.port or target.options.port or 25
      local sock, verdict, detail = net.connect(first.address, port, { timeout = target.options.timeout })
      if sock then
        used = sock:info().source
        sock:close()
        used = used or (verdict and verdict.source)
      else
        used = detail and detail.source
      end
      check(used, "chosen by this host's routing towards " .. first.address)
    end
    if next(bad) == nil then
      report:finding {
        code = "srcpolicy.ok",
        summary = used and string.format("Mail leaves from %s, which is not on the site's blocklist", used)
          or "No source address in use is on the site's blocklist",
        evidence = { source = used },
      }
    end
  end,
}

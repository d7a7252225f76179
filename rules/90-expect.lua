-- Expectations from a batch list (`expect:` in the YAML file, handed over as
-- target.options.expect): what the operator says the domain's mail routing
-- should be, compared with what the mx rule found.
local function norm(h)
  return (string.lower(h):gsub("%.$", ""))
end

local function set_of(list)
  local s, sorted = {}, {}
  for _, h in ipairs(list) do
    local n = norm(h)
    if not s[n] then s[n] = true; sorted[#sorted + 1] = n end
  end
  table.sort(sorted)
  return s, sorted
end

return {
  id = "expect",
  description = "Compares the domain's MX hosts with the expectation of a batch list (expect: {mx: [...]})",
  categories = { "expect", "dns", "default" },
  requires = { "mx.hosts" },
  codes = { ["expect.mx"] = "warn", ["expect.met"] = "ok" },
  applies = function(target)
    local e = target.options.expect
    return type(e) == "table" and e.mx ~= nil
  end,
  run = function(target, report)
    local want, want_list = set_of(target.options.expect.mx)
    local hosts = {}
    for _, h in ipairs(target.facts["mx.hosts"]) do
      if not h.implicit then hosts[#hosts + 1] = h.host end
    end
    local have, have_list = set_of(hosts)
    local missing, unexpected = {}, {}
    for _, h in ipairs(want_list) do if not have[h] then missing[#missing + 1] = h end end
    for _, h in ipairs(have_list) do if not want[h] then unexpected[#unexpected + 1] = h end end
    local ev = { name = target.domain, expected = want_list, found = have_list }
    if #missing == 0 and #unexpected == 0 then
      report:finding {
        code = "expect.met",
        summary = string.format("The MX hosts are the expected ones (%s)", table.concat(want_list, ", ")),
        evidence = ev,
      }
      return
    end
    ev.missing = missing
    ev.unexpected = unexpected
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing " .. table.concat(missing, ", ") end
    if #unexpected > 0 then parts[#parts + 1] = "not expected " .. table.concat(unexpected, ", ") end
    report:finding {
      code = "expect.mx",
      summary = string.format("The MX hosts differ from the expected ones: %s", table.concat(parts, "; ")),
      explanation = "The list says which hosts should receive this domain's mail, and the DNS now says otherwise. "
        .. "Either the DNS changed (a migration, a hijacked or expired zone, a typo in a change) or the "
        .. "expectation is out of date.",
      advice = "Compare with the intended configuration (dig " .. tostring(target.domain) .. " MX); fix the "
        .. "zone or update the expectation in the list.",
      evidence = ev,
    }
  end,
}

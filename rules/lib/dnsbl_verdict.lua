-- Turning DNSBL answers into verdicts with the catalog (dnsbl_catalog), and
-- the trust test every list must pass before any of its verdicts count.
-- Shared by the dnsbl rules; site rules can use it for their own lists.
local M = {}

-- Subject kind as lists name it: "ip4", "ip6" or "domain" (anything that is
-- not an address; dnsbl.lookup refuses what is not a name).
function M.subject_kind(subject)
  local p = net.parse_address(subject)
  if p then
    -- an IPv4-mapped IPv6 address is queried as the IPv4 peer it is
    if p.family == 6 and p.address:lower():match("^::ffff:%d+%.%d+%.%d+%.%d+$") then return "ip4" end
    return p.family == 4 and "ip4" or "ip6"
  end
  return "domain"
end

-- Does list serve subjects of this kind? Never send a domain to an IP list
-- or an address to a domain list.
function M.serves(list, kind)
  for _, k in ipairs(list.kind) do if k == kind then return true end end
  return false
end

local function is_error(list, a)
  if list.errors and list.errors[a] then return list.errors[a] end
  -- 127.255.255.0/24 is the conventional error range of every list
  if a:match("^127%.255%.255%.%d+$") then return "error answer " .. a .. " (the list refused the query)" end
  return nil
end

-- Classifies one dnsbl.lookup result. Returns a table:
--   {state = "clean"}
--   {state = "listed", hits = {{code=, meaning=, severity=, scope=}...}}
--   {state = "error"|"rewritten"|"undocumented", reason = ...}
function M.classify(list, res)
  if res.foreign then
    return { state = "rewritten", reason = string.format(
      "the resolver answered %s, outside 127.0.0.0/8: it rewrites answers (NXDOMAIN hijacking or a filter), so "
      .. "its DNSBL answers mean nothing", table.concat(res.foreign, ", ")) }
  end
  if #res.answers == 0 then return { state = "clean" } end
  local hits, undoc = {}, {}
  for _, a in ipairs(res.answers) do
    local err = is_error(list, a)
    if err then return { state = "error", reason = err, code = a } end
    local c = list.codes[a]
    if c then
      hits[#hits + 1] = { code = a, meaning = c.meaning, severity = c.severity or "crit", scope = c.scope }
    else
      undoc[#undoc + 1] = a
    end
  end
  if #undoc > 0 then
    return { state = "undocumented", code = table.concat(undoc, ", "), reason = string.format(
      "answer %s is not a code %s documents: not counted as a listing", table.concat(undoc, ", "), list.name) }
  end
  table.sort(hits, function(x, y) return x.code < y.code end)
  return { state = "listed", hits = hits }
end

local failure_text = {
  timeout = "no answer within the timeout (the resolver cannot reach the list, or the list is down)",
  refused = "the resolver's port is closed",
  servfail = "the resolver answered SERVFAIL (the list's servers do not answer it, or refuse it)",
  rcode = "the resolver answered with an error code",
  error = "the lookup failed locally",
}

function M.failure_reason(err, detail)
  local r = failure_text[err] or err
  if detail and detail.status and err == "rcode" then r = r .. " " .. detail.status end
  if detail and detail.error then r = r .. ": " .. detail.error end
  return r
end

-- The trust test: every listed test point must answer a documented code,
-- every unlisted one NXDOMAIN. Returns {ok=bool, reason=, checks={...}}.
function M.trust(list)
  local points = {}
  for _, p in ipairs(list.test.listed or {}) do points[#points + 1] = { subject = p, want = "listed" } end
  for _, p in ipairs(list.test.unlisted or {}) do points[#points + 1] = { subject = p, want = "clean" } end
  local jobs = {}
  for i, p in ipairs(points) do
    jobs[i] = function() return table.pack(dnsbl.lookup(p.subject, list.zone, M.subject_kind(p.subject))) end
  end
  local results = task.all(jobs)
  local checks = {}
  local reason
  for i, p in ipairs(points) do
    local r = results[i]
    local res, err, detail = r[1], r[2], r[3]
    local got, why
    if not res then
      got, why = err, M.failure_reason(err, detail)
    else
      local c = M.classify(list, res)
      got = c.state
      if c.state == "listed" then
        local codes = {}
        for _, h in ipairs(c.hits) do codes[#codes + 1] = h.code end
        got = "listed " .. table.concat(codes, ",")
        if p.want ~= "listed" then
          why = string.format("the test point %s, which must not be listed, is listed (%s): the list (or "
            .. "something in the resolver path) answers every query, as dead lists and wildcards do", p.subject,
            table.concat(codes, ", "))
        end
      elseif c.state == "clean" then
        if p.want ~= "clean" then
          why = string.format("the test point %s, which must be listed, is not (NXDOMAIN): the resolver "
            .. "does not see the list (blocked, unregistered, or the list is gone)", p.subject)
        end
      else
        why = c.reason
      end
    end
    checks[#checks + 1] = { subject = p.subject, want = p.want, got = got }
    if why and not reason then reason = why end
  end
  return { ok = reason == nil, reason = reason, checks = checks }
end

return M

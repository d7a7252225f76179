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

-- RFC 5782 section 5: 127.0.0.1 must never be a listing (it is the test
-- point that must not be listed); a list answering it is broken or dead (dead
-- lists answer it, or 127.0.0.2, for everything).
local LOOPBACK_REASON = "answer 127.0.0.1, which RFC 5782 forbids as a listing: a list answering it is broken "
  .. "or dead (dead lists answer it for every query), so the answer is not counted"

local function is_error(list, a)
  if list.errors and list.errors[a] then return list.errors[a] end
  if a == "127.0.0.1" then return LOOPBACK_REASON end
  -- 127.255.255.0/24 is the conventional error range of every list
  if a:match("^127%.255%.255%.%d+$") then return "error answer " .. a .. " (the list refused the query)" end
  return nil
end

-- Classifies one dnsbl.lookup result. Returns a table:
--   {state = "clean"}
--   {state = "listed", hits = {{code=, meaning=, severity=, scope=, policy=, advice=}...},
--    unknown = {codes the catalog does not document, answered with them}?}
--   {state = "error"|"rewritten"|"undocumented", reason = ...}
-- An answer holding a documented code and an undocumented one is the
-- documented listing (lists may add codes before the catalog knows them);
-- only an answer with no documented code at all is "undocumented".
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
      hits[#hits + 1] = { code = a, meaning = c.meaning, severity = c.severity or "crit", scope = c.scope,
                          policy = c.policy, advice = c.advice }
    else
      undoc[#undoc + 1] = a
    end
  end
  if #undoc > 0 and #hits == 0 then
    return { state = "undocumented", code = table.concat(undoc, ", "), reason = string.format(
      "answer %s is not a code %s documents: not counted as a listing", table.concat(undoc, ", "), list.name) }
  end
  table.sort(hits, function(x, y) return x.code < y.code end)
  return { state = "listed", hits = hits, unknown = #undoc > 0 and undoc or nil }
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

-- A list the catalog does not describe, named by zone (a batch list's
-- dnsbl_zones): asked for IPv4 addresses, any 127.0.0.0/8 answer outside the
-- error range counts as listed (warn: its meaning is unknown to mxdiag),
-- except 127.0.0.1 (RFC 5782 forbids listing it: an error, see is_error), and
-- it must pass the RFC 5782 test points (127.0.0.2 listed, 127.0.0.1 not)
-- like every list.
function M.generic(zone)
  local codes = setmetatable({}, { __index = function(_, a)
    if type(a) == "string" and a:match("^127%.%d+%.%d+%.%d+$") and a ~= "127.0.0.1" then
      return { severity = "warn", meaning = "listed (answer " .. a .. "; this list's codes are not in mxdiag's catalog)" }
    end
  end })
  return { id = zone, name = zone, zone = zone, kind = { "ip4" }, codes = codes, errors = {},
           delist = "the list operator's web site (" .. zone .. ")", generic = true,
           test = { listed = { "127.0.0.2" }, unlisted = { "127.0.0.1" } } }
end

-- With a key (options.dnsbl_key: --dnsbl-key / dnsbl_key), a list that has
-- a keyed_zone is asked there instead, as <key_label>.<keyed_zone>: the
-- engine swaps the placeholder label for the key in the packet only.
local function keyed(catalog, list, options)
  if not (options and options.dnsbl_key and list.keyed_zone) then return list end
  local l = setmetatable({}, { __index = list })
  l.public_zone = list.zone
  l.zone = (catalog.key_label or "mxdiag-dnsbl-key") .. "." .. list.keyed_zone
  l.keyed = true
  return l
end

-- The lists to ask: the catalog's, or when options.dnsbl_zones is set (a
-- batch list's dnsbl_zones) only those zones, in that order: a zone the
-- catalog knows keeps its codes and test points, any other is generic.
function M.lists_for(catalog, options)
  local want = options and options.dnsbl_zones
  local out = {}
  if not want then
    for _, l in ipairs(catalog.lists) do out[#out + 1] = keyed(catalog, l, options) end
    return out
  end
  local by_zone = {}
  for _, l in ipairs(catalog.lists) do
    by_zone[l.zone] = l
    if l.keyed_zone then by_zone[l.keyed_zone] = l end
  end
  for _, z in ipairs(want) do
    out[#out + 1] = by_zone[z] and keyed(catalog, by_zone[z], options) or M.generic(z)
  end
  return out
end

-- Is the list (its trust test result t) trusted for subjects of kind?
-- An IPv6 verdict rests on the list's IPv6 test points when it has them
-- (RFC 5782 ::FFFF:7F00:2 / ::FFFF:7F00:1), not on the IPv4 ones.
-- Returns ok, reason.
function M.trusted(t, kind)
  local k = t.kinds and t.kinds[kind]
  if k then return k.ok, k.reason end
  return t.ok, t.reason
end

-- The trust test: every listed test point must answer a documented code,
-- every unlisted one NXDOMAIN. Returns {ok=bool, reason=, checks={...}}.
-- Points in test.listed6/unlisted6 are asked in IPv6 form ("ip6" kind: an
-- IPv4-mapped test point is not folded to IPv4) and decide IPv6 trust; the
-- result's kinds[kind] = {ok=, reason=} per kind of subject tested.
function M.trust(list)
  local points = {}
  for _, p in ipairs(list.test.listed or {}) do points[#points + 1] = { subject = p, want = "listed" } end
  for _, p in ipairs(list.test.unlisted or {}) do points[#points + 1] = { subject = p, want = "clean" } end
  for _, p in ipairs(list.test.listed6 or {}) do points[#points + 1] = { subject = p, want = "listed", kind = "ip6" } end
  for _, p in ipairs(list.test.unlisted6 or {}) do points[#points + 1] = { subject = p, want = "clean", kind = "ip6" } end
  local jobs = {}
  for i, p in ipairs(points) do
    p.kind = p.kind or M.subject_kind(p.subject)
    jobs[i] = function() return table.pack(dnsbl.lookup(p.subject, list.zone, p.kind)) end
  end
  local results = task.all(jobs)
  local checks, kinds = {}, {}
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
    checks[#checks + 1] = { subject = p.subject, want = p.want, got = got, kind = p.kind }
    kinds[p.kind] = kinds[p.kind] or { ok = true }
    if why then
      if kinds[p.kind].ok then kinds[p.kind] = { ok = false, reason = why } end
      if not reason then reason = why end
    end
  end
  return { ok = reason == nil, reason = reason, checks = checks, kinds = kinds }
end

return M

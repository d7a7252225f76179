-- Helpers of the logs rules (rules/9x-logs-*.lua): times, counts in words,
-- per-domain failures by class, ranking by impact.
local causes = require("logs_causes")
local M = {}

-- "2024-03-01T10:42:30Z"; nil for nil.
function M.iso(t)
  if not t then return nil end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- "10:42 UTC" when t is within a day before now, else "2024-03-01 10:42 UTC".
function M.when(t, now)
  if not t then return "-" end
  if now and now >= t and now - t < 86400 then return os.date("!%H:%M UTC", t) end
  return os.date("!%Y-%m-%d %H:%M UTC", t)
end

-- "1 domain", "3 domains"
function M.n(count, word, plural)
  return string.format("%d %s", count, count == 1 and word or (plural or word .. "s"))
end

-- Failures of a group (a domain, an address) by class of their cause:
-- recipient outcomes only (external and local alike in by_cause; a group's
-- own "failures" are the external ones). Returns {class -> count}.
function M.by_class(g)
  local out = {}
  for name, n in pairs(g.by_cause or {}) do
    local c = causes.class(name)
    out[c] = (out[c] or 0) + n
  end
  return out
end

-- External failures of a domain that say something about delivery (all but
-- the "recipient" class: wrong addresses), clamped to its external failures.
function M.delivery_failures(g)
  local rc = 0
  for name, n in pairs(g.by_cause or {}) do
    if causes.class(name) == "recipient" then rc = rc + n end
  end
  local f = (g.failures or 0) - rc
  if f < 0 then f = 0 end
  return f
end

-- Its dominant cause among the given class filter (nil: any); name, count.
-- The most failures wins; of equal counts, the name first in sort order
-- (whatever order pairs() gives).
function M.dominant(g, want)
  local best, bn = nil, 0
  for name, n in pairs(g.by_cause or {}) do
    if (n > bn or (n == bn and best and name < best)) and (not want or want(causes.class(name))) then
      best, bn = name, n
    end
  end
  return best, bn
end

-- Impact of f failures beside s successes: failures weighted by their share,
-- so that 2 failures among 32 successes rank below 1 failure with none.
function M.impact(f, s)
  if f <= 0 then return 0 end
  return f * f / (f + s)
end

-- util.sort_by, the engine's (bindings/l_util.c), for the logs rules, whose
-- own `util` is this library: sorts a list of records by named fields
-- ("-" first: descending), each field read once per record, no Lua
-- function called per comparison.
M.sort_by = util.sort_by

-- Sorts a list of {name=, failures=, successes=} by impact (then failures,
-- then name); returns it.
function M.rank(list)
  -- sorted in C on keys made once per entry (a Lua comparator ran ~22,000
  -- times for 2,000 failing domains: most of the logs rules' time)
  local keyed = {}
  for i, e in ipairs(list) do
    keyed[i] = { impact = M.impact(e.failures, e.successes), failures = e.failures, name = e.name, e = e }
  end
  util.sort_by(keyed, { "-impact", "-failures", "name" })
  for i, k in ipairs(keyed) do list[i] = k.e end
  return list
end

-- "deferred 151, bounced 2" from a by_status table (attempts left out), in a
-- fixed order, zero counts left out; "" when nothing.
function M.status_words(by_status)
  local parts = {}
  for _, s in ipairs({ "deferred", "bounced", "expired" }) do
    local n = by_status and by_status[s] or 0
    if n > 0 then parts[#parts + 1] = string.format("%d %s", n, s) end
  end
  return table.concat(parts, ", ")
end

-- Damerau-Levenshtein (optimal string alignment) distance of the byte arrays
-- a (la bytes) and b (lb bytes), exact up to max; any distance above max is
-- max + 1 (the callers only ask "<= max?"). Only the band |i - j| <= max of
-- each row is computed (a cell outside it is above max), every value is capped
-- at max + 1 (the recurrence adds and takes minima: no value <= max changes),
-- and three rows are reused instead of a table per row: this ran for up to
-- 1,000 candidates x ~100 references (97-logs-recipients), most of the logs
-- rules' time. tests/rules/test_logs_rules.py checks it against the plain
-- full-table computation.
local rows = { {}, {}, {} }
function M.distance(a, la, b, lb, max)
  if math.abs(la - lb) > max then return max + 1 end
  local INF = max + 1
  local prev2, prev, cur = rows[1], rows[2], rows[3]
  for j = 0, lb do prev[j] = j < INF and j or INF end
  for i = 1, la do
    local lo, hi = i - max, i + max
    if lo < 1 then lo = 1 end
    if hi > lb then hi = lb end
    local first = (lo == 1 and i < INF) and i or INF
    cur[lo - 1] = first
    local row_min = first
    local ai, ap = a[i], a[i - 1]
    for j = lo, hi do
      local bj = b[j]
      local v = prev[j - 1] + (ai == bj and 0 or 1)
      local x = prev[j] + 1
      if x < v then v = x end
      x = cur[j - 1] + 1
      if x < v then v = x end
      if i > 1 and j > 1 and ai == b[j - 1] and ap == bj then
        x = prev2[j - 2] + 1
        if x < v then v = x end
      end
      if v > INF then v = INF end
      cur[j] = v
      if v < row_min then row_min = v end
    end
    if hi < lb then cur[hi + 1] = INF end
    if row_min > max then return INF end
    prev2, prev, cur = prev, cur, prev2
  end
  return prev[lb]
end

-- The bytes of s as an array, for M.distance.
function M.bytes(s) return { s:byte(1, -1) } end

return M

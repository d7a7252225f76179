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
  local rc = M.by_class(g).recipient or 0
  local f = (g.failures or 0) - rc
  if f < 0 then f = 0 end
  return f
end

-- Its dominant cause among the given class filter (nil: any); name, count.
function M.dominant(g, want)
  local best, bn = nil, 0
  local names = {}
  for name in pairs(g.by_cause or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local n = g.by_cause[name]
    if (not want or want(causes.class(name))) and n > bn then best, bn = name, n end
  end
  return best, bn
end

-- Impact of f failures beside s successes: failures weighted by their share,
-- so that 2 failures among 32 successes rank below 1 failure with none.
function M.impact(f, s)
  if f <= 0 then return 0 end
  return f * f / (f + s)
end

-- Sorts a list of {name=, failures=, successes=} by impact (then failures,
-- then name); returns it.
function M.rank(list)
  table.sort(list, function(a, b)
    local ia, ib = M.impact(a.failures, a.successes), M.impact(b.failures, b.successes)
    if ia ~= ib then return ia > ib end
    if a.failures ~= b.failures then return a.failures > b.failures end
    return a.name < b.name
  end)
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

return M

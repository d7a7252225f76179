-- The fact `logs` is sealed as the engine builds it (bindings/rt_factsink.c):
-- every table in it read-only however it is reached, rawget/next/rawlen see
-- an empty table, #, ipairs and pairs read the contents (test_logs_fact_sealed.py).
local function refused(f)
  local ok, err = pcall(f)
  return not ok and tostring(err):find("read%-only") ~= nil
end

return {
  id = "sbx-logs-sealed",
  kind = "logs",
  description = "tries to change the fact logs",
  categories = { "logs" },
  codes = { ["sbx.logs_sealed"] = "info" },
  run = function(target, report)
    local L = target.facts.logs
    local d = L.domains[1]
    local keys = 0
    for _ in pairs(d) do keys = keys + 1 end
    local n = 0
    for _, g in ipairs(L.domains) do n = n + g.events end
    local empty -- an empty container of the fact (a group's by_cause when it only succeeded, ...)
    local function find_empty(t, depth)
      local has = false
      for _, v in pairs(t) do
        has = true
        if empty then return end
        if type(v) == "table" and depth < 6 then find_empty(v, depth + 1) end
      end
      if not has then empty = empty or t end
    end
    find_empty(L, 0)
    local ev = {
      len = #L.domains, events = n, group_keys = keys, key = d.key,
      write_top = refused(function() L.lines = 1 end),
      write_list = refused(function() L.domains[1] = {} end),
      write_group = refused(function() d.events = 0 end),
      write_nested = refused(function() d.by_status.forged = 1 end),
      write_empty = empty ~= nil and refused(function() empty.forged = 1 end),
      insert = refused(function() table.insert(L.domains, {}) end),
      sort = refused(function() table.sort(L.domains, function(a, b) return a.events > b.events end) end),
      rawset = refused(function() rawset(d, "events", 0) end),
      setmetatable = select(2, pcall(setmetatable, d, {})),
      getmetatable = getmetatable(L),
      rawget = rawget(L, "domains") == nil and rawget(d, "events") == nil,
      next = next(L) == nil and next(d) == nil,
      rawlen = rawlen(L.domains),
      after = d.events .. "/" .. #L.domains .. "/" .. tostring(L.lines ~= 1),
    }
    report:finding { code = "sbx.logs_sealed", summary = "the fact logs, as a rule sees it", evidence = ev }
  end,
}

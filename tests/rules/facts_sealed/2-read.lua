-- Reads sbx.fact after its publisher changed its own table; each observation
-- is a key of the finding's evidence.
return { id = "sbx-read", description = "reads a published fact",
  requires = { "sbx.fact", "sbx.later" }, codes = { ["sbx.read"] = "info" },
  run = function(target, report)
    local f = target.facts["sbx.fact"]
    local function fails(fn, ...)
      local ok, err = pcall(fn, ...)
      return not ok and tostring(err):match("read%-only") ~= nil or (not ok and tostring(err)) or false
    end
    local keys = {}
    for k in pairs(f) do keys[#keys + 1] = k end
    table.sort(keys)
    local items = {}
    for i, v in ipairs(f.list) do items[#items + 1] = i .. "=" .. v end
    local it, state = pairs(f)
    local copy = {}
    for _, v in ipairs(f.list) do copy[#copy + 1] = v end
    table.sort(copy, function(a, b) return a > b end)
    local lp, lsum, lshared, ltkey = 0, 0, true, false
    for k, v in pairs(f.long) do
      lp = lp + 1
      if type(k) == "number" then lsum = lsum + v
      elseif type(k) == "table" then ltkey = k == f.nested and v == "tablekey"
      elseif k ~= "back" and k ~= "again" then lshared = lshared and v.n == f.nested and f.long["k" .. v.i] == v end
    end
    report:finding { code = "sbx.read", summary = "reader", evidence = {
      name = f.name, list1 = f.list[1], added = f.added == nil and "absent" or "present",
      x = f.nested.x, deep = f.nested.deep.y.z, obj_get = f.obj:get(),
      len = #f.list, ipairs = table.concat(items, ","), concat = table.concat(f.list, "+"),
      keys = table.concat(keys, ","), sorted_copy = table.concat(copy, ","),
      cycle = f.self == f and f.self.self.name == f.name, shared = f.again == f.nested,
      state_is_view = state == f,
      rawget = rawget(f, "name") == nil, next = next(f) == nil, rawlen = rawlen(f.list),
      getmetatable = getmetatable(f), type = type(f),
      write = fails(function() f.name = "b" end),
      write_nested = fails(function() f.nested.deep.y.z = "top" end),
      write_cycle = fails(function() f.self.self.name = "b" end),
      write_obj = fails(function() f.obj.v = 1 end),
      insert = fails(table.insert, f.list, 4),
      sort = fails(table.sort, f.list, function(a, b) return a > b end),
      rawset = fails(rawset, f, "name", "b"),
      setmetatable = fails(setmetatable, f, nil),
      iter_state = fails(function()
        local k, v = it(state, nil)
        while type(v) ~= "table" do k, v = it(state, k) end
        v.y = 1
      end),
      long = string.format("len=%d pairs=%d sum=%d shared=%s tkey=%s back=%s", #f.long, lp, lsum,
        tostring(lshared), tostring(ltkey), tostring(f.long.back == f and f.long.again == f.long.k40)),
      empty = f.empty, nested = f.nested, list = f.list,
    } }
  end }

-- Every escape from a rule's sandbox we could think of, each tried under
-- pcall. An attempt escapes when it gets hold of something another rule or
-- another check also sees, and changes it (or reaches what is not offered:
-- load, debug, io, ...). Where one succeeds it also does harm (net.connect
-- forged, options changed), so the shipped rules' verdicts show it too.
local function forge(t) t.connect = function() return nil, "refused", {} end end

local function writable(t)
  -- true when t accepts a write (and the write is undone)
  if type(t) ~= "table" then return false end
  local ok = pcall(function() t["sbx.probe"] = true end)
  if ok and rawget(t, "sbx.probe") then rawset(t, "sbx.probe", nil) return true end
  return ok and t["sbx.probe"] == true
end

local attempts = {
  ["pairs(net) gives the real table"] = function() local _, r = pairs(net); if writable(r) then forge(r) return true end end,
  ["values of pairs(util) writable"] = function()
    for _, v in pairs(util) do if writable(v) then return true end end
  end,
  ["modules through pairs(_ENV)"] = function()
    for _, m in pairs(_ENV) do
      if type(m) == "table" and m ~= _ENV then
        local _, r = pairs(m); if r ~= m and writable(r) then forge(r) return true end
        if writable(m) then return true end
      end
    end
  end,
  ["next(net)"] = function() return next(net) ~= nil end,
  ["rawget(net, 'connect')"] = function() return rawget(net, "connect") ~= nil end,
  ["rawset(net, ...)"] = function() rawset(net, "connect", net.connect) return true end,
  ["rawset(util.null, ...)"] = function() rawset(util.null, "x", 1) return true end,
  ["util.null.x = 1"] = function() util.null.x = 1 return true end,
  ["setmetatable(util.null)"] = function() setmetatable(util.null, {}) return true end,
  ["setmetatable(net)"] = function() setmetatable(net, {}) return true end,
  ["getmetatable(net)"] = function() local mt = getmetatable(net); return type(mt) == "table" end,
  ["getmetatable(target)"] = function() return type(getmetatable(target)) == "table" end,
  ["getmetatable('')"] = function() return type(getmetatable("")) == "table" end,
  ["target.options lists"] = function()
    for _, v in pairs(target.options) do
      if type(v) == "table" and writable(v) then table.insert(v, "192.0.2.1") return true end
    end
  end,
  ["pairs(target.options)"] = function() local _, r = pairs(target.options); return writable(r) end,
  ["pairs(target)"] = function() local _, r = pairs(target); return writable(r) end,
  ["pairs(target.facts)"] = function() local _, r = pairs(target.facts); return writable(r) end,
  ["a fact's table"] = function()
    local f = target.facts["tcp.results"]
    return f ~= nil and (writable(f) or writable(f[1]))
  end,
  ["table.insert on a module"] = function() table.insert(net, 1) return true end,
  ["table.sort on options"] = function() table.sort(target.options.source_ips) table.insert(target.options.source_ips, "x") return true end,
  ["table.move into a module"] = function() table.move({ 1 }, 1, 1, 1, string) return true end,
  ["string library writable"] = function() return writable(string) end,
  ["coroutine library writable"] = function() return writable(coroutine) end,
  ["task.signal of another rule's event"] = function()
    for id = 1, 64 do if pcall(task.signal, id) then return true end end
  end,
  ["load"] = function() return load ~= nil or loadstring ~= nil or dofile ~= nil or loadfile ~= nil end,
  ["debug/io/package/collectgarbage"] = function() return debug ~= nil or io ~= nil or package ~= nil or collectgarbage ~= nil end,
  ["string.dump"] = function() return string.dump ~= nil or ("").dump ~= nil end,
  ["os.execute/getenv"] = function() return os.execute ~= nil or os.getenv ~= nil or os.exit ~= nil end,
  ["error object is the real table"] = function()
    local ok, e = pcall(function() net.connect = 1 end)
    return type(e) == "table"
  end,
  ["__gc finalizer"] = function() setmetatable({}, { __gc = function() end }) return true end,
}

local names = {}
for name in pairs(attempts) do names[#names + 1] = name end
table.sort(names)

return { id = "sbx-all", description = "every escape attempt", codes = { ["sb.escaped"] = "crit" },
  wants = { "tcp.results" },
  run = function(target_, report)
    target = target_
    local escaped, tried = {}, 0
    for _, name in ipairs(names) do
      tried = tried + 1
      local ok, yes = pcall(attempts[name])
      if ok and yes then escaped[#escaped + 1] = name end
    end
    error(#escaped == 0 and ("all %d escape attempts refused"):format(tried) or ("escaped: " .. table.concat(escaped, "; "))) --@line all \d+ escape attempts refused
  end }

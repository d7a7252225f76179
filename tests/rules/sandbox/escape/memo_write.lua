-- shared.memo's value is handed to every check of the run (issue 21: the tcp
-- and smtp rules keep each address's findings and published entry there): a
-- check that changed it, or a finding in it, would change what every later
-- check reports. It is sealed when made: every write raises, and the value
-- the second check gets is the one the first check made.
local shared = require("shared")

return { id = "sbx-memo", description = "write to a shared.memo value", codes = { ["sb.memo"] = "info" },
  run = function(target, report)
    local v = shared.memo("sbx-memo|" .. task.epoch(), function()
      return { n = 1, list = { "a" },
               finding = { code = "sb.memo", summary = "made once", evidence = { hosts = { "mx1.example", "mx2.example" } } } }
    end)
    local f = v.finding
    local attempts = {
      ["v.n = 2"] = function() v.n = 2 end,
      ["v.new = 1"] = function() v.new = 1 end,
      ["table.insert(v.list)"] = function() table.insert(v.list, "b") end,
      ["v.list[1] = 'x'"] = function() v.list[1] = "x" end,
      ["rawset(v)"] = function() rawset(v, "n", 2) end,
      ["setmetatable(v)"] = function() setmetatable(v, nil) end,
      ["finding.summary"] = function() f.summary = "changed" end,
      ["finding.severity"] = function() f.severity = "crit" end,
      ["finding evidence"] = function() f.evidence.hosts[1] = "forged" end,
      ["table.sort(finding evidence)"] = function() table.sort(f.evidence.hosts, function(a, b) return a > b end) end,
    }
    local names, wrote = {}, {}
    for name in pairs(attempts) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      if pcall(attempts[name]) then wrote[#wrote + 1] = name end
    end
    -- what every check reads: the value as made (the first check's attempts changed nothing)
    local intact = v.n == 1 and v.new == nil and #v.list == 1 and v.list[1] == "a" and f.summary == "made once"
      and f.severity == nil and f.evidence.hosts[1] == "mx1.example" and #f.evidence.hosts == 2
    error((#wrote == 0 and intact) and ("memo value read-only (%d writes refused)"):format(#names) or --@line memo value read-only \(10 writes refused\)
      ("memo value changed: " .. table.concat(wrote, "; ") .. (intact and "" or " (value not intact)")))
  end }

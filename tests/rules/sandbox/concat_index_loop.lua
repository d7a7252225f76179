-- table.concat reads through __index from C.
return { id = "sb-concat-index", description = "table.concat over a looping __index", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local t = setmetatable({}, { __index = function() while true do end end, __len = function() return 3 end }) --@line (instruction budget|deadline) exceeded
    table.concat(t)
  end }

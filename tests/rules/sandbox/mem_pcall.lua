-- Allocation failures caught by pcall still stop the rule.
return { id = "sb-mem-pcall", description = "unbounded allocation under pcall", codes = { ["sb.never"] = "ok" },
  timeout = 300, -- the memory cap must end it, not the deadline of a slow (sanitizer) build
  run = function(target, report)
    local t = {}
    while true do
      pcall(function() t[#t + 1] = string.rep("y", 1 << 20) .. #t end) --@line not enough memory
    end
  end }

-- pcall must not swallow the budget error forever.
return { id = "sb-loop-pcall", description = "busy loop under pcall", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    while true do pcall(function() while true do end end) end --@line (instruction budget|deadline) exceeded
  end }

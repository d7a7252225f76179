-- xpcall with a handler that swallows: still stopped.
return { id = "sb-loop-xpcall", description = "busy loop under xpcall", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local function spin() while true do end end
    while true do xpcall(spin, function(e) return e end) end --@line (instruction budget|deadline) exceeded
  end }

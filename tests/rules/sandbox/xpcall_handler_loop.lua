-- A message handler that loops: Lua runs handlers inside its error machinery,
-- where an error raised by the count hook leaves hooks off, so the handler
-- used to loop forever. The sandbox's xpcall calls it as an ordinary function.
return { id = "sb-xpcall-handler", description = "xpcall with a looping message handler", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    xpcall(error, function() while true do end end) --@line (instruction budget|deadline) exceeded
  end }

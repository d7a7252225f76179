-- A rule that never ends: the instruction budget stops it.
return { id = "sb-loop", description = "busy loop", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    while true do end --@line (instruction budget|deadline) exceeded
  end }

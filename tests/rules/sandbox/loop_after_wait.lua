-- A busy loop after an engine call: a later pass of the scheduler.
return { id = "sb-loop-after-wait", description = "busy loop after an engine call", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    task.sleep(0)
    while true do end --@line (instruction budget|deadline) exceeded
  end }

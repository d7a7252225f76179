-- A task.all function that loops: a task of its own, with no count hook
-- until the CPU timer gives it one (bindings/rt_sandbox.c).
return { id = "sb-loop-task-all", description = "busy loop in a task.all function", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    task.all({ function() return 1 end, function() while true do end end }) --@line (instruction budget|deadline) exceeded
  end }

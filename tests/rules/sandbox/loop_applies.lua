-- The predicate runs under the budget too.
return { id = "sb-loop-applies", description = "busy loop in applies()", codes = { ["sb.never"] = "ok" },
  applies = function(target)
    while true do end --@line (instruction budget|deadline) exceeded
  end,
  run = function(target, report) end }

-- A rule's own coroutine catching errors (resume returns false): still stopped.
return { id = "sb-loop-coroutine", description = "busy loop in a coroutine", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    while true do
      local co = coroutine.create(function() while true do end end)
      coroutine.resume(co) --@line (instruction budget|deadline) exceeded
    end
  end }

-- A __close handler that loops, run by coroutine.close on the coroutine's
-- own thread: stopped, and close raises instead of returning false.
return { id = "sb-loop-close", description = "busy loop in a __close run by coroutine.close", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local co = coroutine.create(function()
      local x <close> = setmetatable({}, { __close = function() while true do end end })
      coroutine.yield()
    end)
    coroutine.resume(co)
    coroutine.close(co) --@line (instruction budget|deadline) exceeded
  end }

-- A coroutine stopped by the count hook is dead with hooks off; closing it
-- would run its pending __close handler unbounded. After an abort,
-- coroutine.close raises instead.
return { id = "sb-close-after-abort", description = "coroutine.close of a coroutine the budget stopped", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local co = coroutine.create(function()
      local x <close> = setmetatable({}, { __close = function() while true do end end })
      while true do end
    end)
    pcall(function() local y <close> = setmetatable({}, { __close = function() coroutine.close(co) end }); coroutine.resume(co) end) --@line (instruction budget|deadline) exceeded
  end }

-- A busy loop three coroutines deep (wrap, wrap, create/resume): the CPU
-- timer's signal must reach the innermost one.
return { id = "sb-loop-nested-coroutines", description = "busy loop three coroutines deep", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local f = coroutine.wrap(function()
      return coroutine.wrap(function()
        local co = coroutine.create(function() while true do end end)
        return coroutine.resume(co)
      end)()
    end)
    f() --@line (instruction budget|deadline) exceeded
  end }

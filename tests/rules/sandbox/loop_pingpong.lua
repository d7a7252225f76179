-- A loop resuming a coroutine again and again, each resume short: the hook
-- given to either side is passed to the other.
return { id = "sb-loop-pingpong", description = "a loop resuming a coroutine again and again", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local co = coroutine.wrap(function() local n = 0 while true do n = n + 1 coroutine.yield(n) end end)
    while true do co() end --@line (instruction budget|deadline) exceeded
  end }

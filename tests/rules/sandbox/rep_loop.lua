-- Each string.rep makes 32 MiB in one VM instruction: charged by size.
return { id = "sb-rep-loop", description = "huge strings in a loop", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    while true do local s = string.rep("x", 32 << 20) end --@line (instruction budget|deadline) exceeded
  end }

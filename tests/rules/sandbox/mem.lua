-- Allocates without bound: the per-rule memory cap stops it.
return { id = "sb-mem", description = "unbounded allocation", codes = { ["sb.never"] = "ok" },
  timeout = 300, -- the memory cap must end it, not the deadline of a slow (sanitizer) build
  run = function(target, report)
    local t = {}
    for i = 1, math.maxinteger do t[i] = string.rep("x", 4096) .. i end --@line not enough memory
  end }

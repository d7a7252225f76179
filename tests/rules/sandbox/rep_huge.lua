-- A gigabyte: the per-rule memory cap (64 MiB) refuses it.
return { id = "sb-rep-huge", description = "string.rep of a gigabyte", codes = { ["sb.never"] = "ok" },
  timeout = 300, -- the memory cap must end it, not the deadline of a slow (sanitizer) build
  run = function(target, report)
    local s = string.rep("x", 1 << 30) --@line not enough memory
  end }

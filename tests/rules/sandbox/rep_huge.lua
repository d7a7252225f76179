-- A gigabyte: the per-rule memory cap (64 MiB) refuses it.
return { id = "sb-rep-huge", description = "string.rep of a gigabyte", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local s = string.rep("x", 1 << 30) --@line not enough memory
  end }

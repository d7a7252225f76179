return { id = "sb-target", description = "writes to the target", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    target.port = 1 --@line read-only
  end }

return { id = "sb-raise", description = "raises", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    error("boom") --@line boom
  end }

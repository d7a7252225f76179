return { id = "sb-debug", description = "debug library", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    debug.sethook() --@line attempt to index a nil value
  end }

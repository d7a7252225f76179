return { id = "sb-popen", description = "io.popen", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local p = io.popen("id") --@line attempt to index a nil value
  end }

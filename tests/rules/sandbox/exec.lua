return { id = "sb-exec", description = "os.execute", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    os.execute("touch /tmp/mxdiag-sandbox-escaped") --@line attempt to call a nil value
  end }

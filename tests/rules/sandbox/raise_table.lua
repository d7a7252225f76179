return { id = "sb-raise-table", description = "raises a table", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    error({ reason = "not a string" }) --@line error object is not a string
  end }

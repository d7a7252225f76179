return { id = "sb-undeclared", description = "emits a code it did not declare", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    report:finding { code = "sb.other", summary = "x" } --@line not declared
  end }

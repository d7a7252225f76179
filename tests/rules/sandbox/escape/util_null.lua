-- util.null is one sentinel for every rule: sealed.
return { id = "sbx-util-null", description = "write to util.null", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    rawset(util.null, "forged", true) --@line read-only
  end }

-- A finalizer would run outside the rule's budget: refused.
return { id = "sb-gc", description = "__gc finalizer", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    setmetatable({}, { __gc = function() while true do end end }) --@line __gc finalizers are not allowed
  end }

-- The string library is shared by every rule (and the string metatable).
return { id = "sbx-pairs-string", description = "unwrap string through pairs", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local _, real = pairs(string)
    real.format = function() return "forged" end --@line read-only
  end }

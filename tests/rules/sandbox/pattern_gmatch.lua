-- The same through gmatch and the string metatable.
return { id = "sb-pattern-gmatch", description = "pathological pattern in gmatch", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local s = ("a"):rep(5000)
    for m in s:gmatch(("a-"):rep(40) .. "b") do end --@line (instruction budget|deadline) exceeded
  end }

-- The string metatable is hidden and holds only the allowed functions.
return { id = "sb-string-meta", description = "string.dump through the string metatable", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    assert(getmetatable("") == false, "string metatable visible")
    local dump = ("").dump
    dump(function() end) --@line attempt to call a nil value
  end }

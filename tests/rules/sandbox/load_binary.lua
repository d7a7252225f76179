-- No load, no string.dump: binary chunks cannot be made or run.
return { id = "sb-load-binary", description = "load a binary chunk", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local chunk = string.dump and string.dump(function() end) or "\27Lua"
    load(chunk, "x", "b") --@line attempt to call a nil value
  end }

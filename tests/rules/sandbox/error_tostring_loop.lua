-- An error object whose __tostring loops: the engine never calls it (the
-- finding says "error object is not a string"); the rule calling it is bounded.
return { id = "sb-error-tostring", description = "error object with a looping __tostring", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local ok, e = pcall(error, setmetatable({}, { __tostring = function() while true do end end })) --@line (instruction budget|deadline) exceeded
    return tostring(e)
  end }

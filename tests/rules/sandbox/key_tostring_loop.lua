-- The read-only error message converts the key with __tostring, from C: still
-- under the rule's budget.
return { id = "sb-key-tostring", description = "looping __tostring of a key written to a module", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    net[setmetatable({}, { __tostring = function() while true do end end })] = 1 --@line (instruction budget|deadline) exceeded
  end }

-- The rule table's own metatable: the loader reads the table raw and keeps a
-- copy, so its __index (which would run for the absent 'applies', 'timeout',
-- ... outside any budget) never runs. The rule loads and runs.
return setmetatable({ id = "sb-rule-index", description = "rule table with a looping __index", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    error("the rule ran") --@line the rule ran
  end }, { __index = function() while true do end end })

-- pairs(target.facts) handed out the check's facts table: a rule could
-- replace another rule's published results.
return { id = "sbx-facts-pairs", description = "replace a fact through pairs(target.facts)", codes = { ["sb.never"] = "ok" },
  wants = { "tcp.results" },
  run = function(target, report)
    local _, facts = pairs(target.facts)
    facts["tcp.results"] = {} --@line read-only
  end }

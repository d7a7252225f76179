-- A published fact is read by other rules: readers get a read-only view.
return { id = "sbx-facts-write", description = "change another rule's fact", codes = { ["sb.never"] = "ok" },
  wants = { "tcp.results" },
  run = function(target, report)
    local r = target.facts["tcp.results"]
    r[1].verdict = "refused" --@line read-only
  end }

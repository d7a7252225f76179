-- Event ids are small integers: signalling another rule's event woke its
-- waiters early (shared.once then raised in them). Events belong to their rule.
return { id = "sbx-signal", description = "signal another rule's event", codes = { ["sb.never"] = "ok" },
  wants = { "tcp.results" },
  run = function(target, report)
    task.signal(1) --@line made by another rule
  end }

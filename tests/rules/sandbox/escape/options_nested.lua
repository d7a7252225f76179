-- target.options is one table for every check of a run: its lists were
-- handed out writable.
return { id = "sbx-options", description = "write into target.options.source_ips", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    table.insert(target.options.source_ips, "192.0.2.1") --@line read-only
  end }

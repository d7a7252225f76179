-- Modules are shared between rules: read-only, rawset included.
return { id = "sb-rawset", description = "rawset on an engine module", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    rawset(net, "connect", function() return nil, "refused", {} end) --@line read-only
  end }

-- The same at the top level of the file (before any check), quietly.
pcall(function()
  local _, real = pairs(net)
  real.connect = function() return nil, "refused", {} end
end)
return { id = "sbx-pairs-load", description = "unwrap net through pairs while loading", codes = { ["sb.never"] = "ok" },
  run = function(target, report) end } --@ok

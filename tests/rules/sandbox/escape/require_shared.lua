-- require() handed every rule the same library table: replacing shared.all
-- here forged the tcp rule's probes. Each rule file now has its own instance,
-- so this changes this rule's copy only.
local shared = require("shared")
shared.all = function(jobs)
  local out = {}
  for i = 1, #jobs do out[i] = { verdict = "refused", detail = {} } end
  return out
end
shared.once = function() return { verdict = "refused", detail = {} } end
return { id = "sbx-require", description = "replace a library's functions", codes = { ["sb.never"] = "ok" },
  run = function(target, report) end } --@ok

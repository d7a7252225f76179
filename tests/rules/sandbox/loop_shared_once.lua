-- A shared.once job that loops (the job runs in the calling rule's task).
local shared = require("shared")
return { id = "sb-loop-shared-once", description = "busy loop in a shared.once job", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    shared.once("sb-loop", function() while true do end end) --@line (instruction budget|deadline) exceeded
  end }

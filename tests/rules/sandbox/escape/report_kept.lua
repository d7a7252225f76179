-- A report's methods are the rule's, shared by its runs; the check they act
-- on is the running one's, and self must be that run's own report object. A
-- table standing in for it (check 1), or the report kept from an earlier
-- check (check 2: the file's locals outlive a check), is refused. The
-- metatable holding the methods is protected.
local kept
return { id = "sbx-report", description = "a report kept, or forged", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    assert(getmetatable(report) == false, "report's metatable exposed")
    assert(not pcall(setmetatable, report, nil), "report's metatable replaced")
    local stale = kept or setmetatable({}, { __index = report })
    kept = report
    stale:finding{ code = "sb.never", summary = "reached a report not its run's" } --@line report used after its rule finished
  end }

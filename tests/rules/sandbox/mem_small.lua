-- Allocates without bound in small blocks only (the Lua allocator's slab:
-- tables and strings up to 512 bytes): the per-rule memory cap stops it too.
return { id = "sb-mem-small", description = "unbounded allocation of small blocks", codes = { ["sb.never"] = "ok" },
  timeout = 300, -- the memory cap must end it, not the deadline of a slow (sanitizer) build
  run = function(target, report)
    local head, n = nil, 0
    while true do n = n + 1; head = { head, string.rep("s", 400) .. n } end --@line not enough memory
  end }

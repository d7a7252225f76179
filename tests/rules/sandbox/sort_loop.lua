-- A comparator that loops, called from C by table.sort.
return { id = "sb-sort-loop", description = "table.sort with a looping comparator", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    table.sort({ 3, 2, 1 }, function(a, b) while true do end end) --@line (instruction budget|deadline) exceeded
  end }

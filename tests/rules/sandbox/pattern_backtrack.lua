-- Catastrophic backtracking inside one C call: Lua's matcher would take
-- about n^(k+1) steps here (measured: k=3, n=500 takes 19 s; this is k=40,
-- n=5000). The sandbox's matcher charges its steps to the budget.
return { id = "sb-pattern", description = "pathological pattern", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    string.find(string.rep("a", 5000), string.rep("a-", 40) .. "b") --@line (instruction budget|deadline) exceeded
  end }

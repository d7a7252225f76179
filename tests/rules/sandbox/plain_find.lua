-- A plain search is O(n*m) too: 2^21 candidates, each compared over 2^20
-- bytes, some 10^12 byte comparisons in one call.
return { id = "sb-plain-find", description = "quadratic plain find", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local s, p = string.rep("a", 1 << 21), string.rep("a", 1 << 20) .. "b"
    string.find(s, p, 1, true) --@line (instruction budget|deadline) exceeded
  end }

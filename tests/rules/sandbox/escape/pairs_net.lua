-- pairs() of a read-only module handed out the real table: one rule could
-- rewrite net.connect for every later rule and domain (a healthy MX was then
-- reported tcp.refused). pairs now iterates a read-only view.
return { id = "sbx-pairs-net", description = "unwrap net through pairs", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    local _, real = pairs(net)
    real.connect = function() return nil, "refused", {} end --@line read-only
  end }

-- Test double for the tcp rule (tests/rules/test_delivery_memo.py): every
-- check publishes the same sealed tcp.results, as shared.list hands every
-- domain with the same MX addresses the same list. No network.
local RESULTS = util.seal({
  { host = "mx.test", address = "192.0.2.1", preference = 10, port = 25, verdict = "connected" },
})
return { id = "tcp", description = "test double: one connected address for every check",
  provides = { "tcp.results" }, codes = {},
  run = function(target, report)
    report:publish("tcp.results", RESULTS)
  end,
}

-- Test double for the smtp rule (tests/rules/test_delivery_memo.py): the
-- same tcp.results for every check, but smtp.sessions differs by target:
-- refused.test's host greets 554 (one sealed list, shared), plain.test gets
-- none published (no SMTP verdict: the connection alone counts). The delivery
-- verdict must follow each check's own pair of facts.
local REFUSED = util.seal({ { host = "mx.test", address = "192.0.2.1", port = 25, greeting = 554 } })
return { id = "smtp", description = "test double: a 554 greeting for refused.test only",
  requires = { "tcp.results" }, provides = { "smtp.sessions" }, codes = {},
  run = function(target, report)
    if target.domain == "refused.test" then report:publish("smtp.sessions", REFUSED) end
  end,
}

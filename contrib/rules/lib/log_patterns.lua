-- A site's cause catalog for `mxdiag logs` (see rules/lib/log_patterns.lua):
-- the large providers' throttling replies become a cause of their own,
-- "provider_throttled", instead of "other" or "greeting_reject" like any
-- refusal: they mean "send slower", not "you are broken". Compiled into the
-- log parser once per run like the shipped patterns: no Lua runs per line.
-- (contrib/rules/logs_throttling.lua names the provider of each; this file
-- makes the cause itself count in the fact `logs`, the scope verdict, the
-- per-cause findings and the histogram.)
-- Install: copy to /etc/mxdiag/rules.d/lib/ (or pass --rules-dir contrib/rules).
local cat = require("log_patterns_shipped")

-- first: these replies win over the shipped entries ("... rate limited" would
-- otherwise be nothing more specific than "other")
table.insert(cat.patterns, 1, {
  cause = "provider_throttled",
  match = {
    "4.7.28 ", "unusual rate of unsolicited mail",              -- Gmail
    "4.7.0 Try again later, closing connection",
    "4.7.650 ", "temporarily rate limited", "(S775)",           -- Microsoft
    "[TSS04]", "[TSSS04]", "temporarily deferred due to unexpected volume", -- Yahoo
  },
})
return cat

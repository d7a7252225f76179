-- One finding per failure cause of `mxdiag logs` (fact `logs`): what failed
-- how often, where, when, and what to do (lib/logs_causes.lua). Recipient
-- outcomes and connection attempts are counted apart: an attempt line is
-- evidence for the outcome it leads to, never a second failure.
local causes = require("logs_causes")
local util = require("logs_util")

local CAUSE_NAMES = { "refused", "timeout", "unreachable", "net_unreachable", "greeting_lost", "greeting_reject",
  "rcpt_reject", "dns_fail", "domain_not_found", "null_mx", "tls_fail", "rbl_reject", "sender_identity",
  "sender_reputation", "other" }
local PREFIX = "logs.cause_"
local codes = {}
for _, n in ipairs(CAUSE_NAMES) do codes[PREFIX .. n] = "warn" end
-- the causes a site's catalog (lib/log_patterns.lua) adds get codes of their
-- own; a catalog that does not load is `mxdiag logs`'s error to report, not
-- this rule's (it names the file and the entry)
local ok, catalog = pcall(require, "log_patterns")
if ok and type(catalog) == "table" and type(catalog.patterns) == "table" then
  for _, e in ipairs(catalog.patterns) do
    if type(e) == "table" and type(e.cause) == "string" and e.cause:match("^[a-z][a-z0-9_]*$") then
      codes[PREFIX .. e.cause] = "warn"
    end
  end
end

return {
  id = "logs-causes",
  kind = "logs",
  description = "mxdiag logs: one finding per failure cause, with its domains, addresses, times and advice",
  categories = { "logs" },
  codes = codes,
  run = function(target, report)
    local L = target.facts.logs
    for _, c in ipairs(L.causes) do
      local name = c.key
      local fcode = PREFIX .. name
      if not codes[fcode] then fcode = PREFIX .. "other" end
      local info = causes.get(name)
      local outcomes = c.failures + c.local_failures
      local summary, expl
      local where = string.format("%s, %s, %s", util.n(c.messages, "message"), util.n(c.domains, "domain"),
        util.n(c.addresses, "remote address", "remote addresses"))
      if outcomes > 0 then
        local st = util.status_words(c.by_status)
        summary = string.format("%s: %s failed (%s)%s%s; %s", name,
          util.n(outcomes, "recipient delivery", "recipient deliveries"), st,
          c.local_failures > 0 and string.format(", %d of them local", c.local_failures) or "",
          c.attempts > 0 and string.format(", plus %s", util.n(c.attempts, "failed connection attempt")) or "",
          where)
        expl = string.format("Deliveries that failed as '%s' (%s) between %s and %s.", name, info.title,
          util.iso(c.first_failure) or "-", util.iso(c.last_failure) or "-")
        if c.attempts > 0 then
          expl = expl .. " Connection attempts are counted apart: each is logged beside the outcome it led to, "
            .. "never as a failure of its own."
        end
      else
        summary = string.format("%s: %s, no recipient's delivery failed with it; %s", name,
          util.n(c.attempts, "failed connection attempt"), where)
        expl = string.format("Only connection attempts failed as '%s' (%s) between %s and %s: the recipients "
          .. "behind them were delivered through another address or are waiting in the queue without an "
          .. "outcome in the logs read.", name, info.title, util.iso(c.first_failure) or "-",
          util.iso(c.last_failure) or "-")
      end
      -- A ranking made under the memory cap says so: the failures of keys that
      -- came after the cause x key pairs (max_pairs of each) were full are not
      -- in it, and one of those keys may have more failures than the ones listed.
      local untracked = {}
      if (c.top_domains_untracked or 0) > 0 then
        untracked[#untracked + 1] = string.format("%s to domains", util.n(c.top_domains_untracked, "failure"))
      end
      if (c.top_addresses_untracked or 0) > 0 then
        untracked[#untracked + 1] = string.format("%s at addresses", util.n(c.top_addresses_untracked, "failure"))
      end
      if #untracked > 0 then
        expl = expl .. string.format(" The top lists are incomplete: the memory cap (%d cause/domain and %d "
          .. "cause/address pairs, kept in the order they first failed) was reached, and %s that came later are "
          .. "not ranked, so a domain or address with more failures than those listed may be missing.",
          L.max_pairs, L.max_pairs, table.concat(untracked, " and "))
      end
      -- external failures warn; local-only trouble and attempts alone are information
      local sev = c.failures > 0 and "warn" or "info"
      local ranked = {}
      for _, d in ipairs(c.top_domains) do
        ranked[#ranked + 1] = { domain = d.domain, failures = d.failures, local_failures = d.local_failures,
          attempts = d.attempts, messages = d.messages }
      end
      report:finding {
        code = fcode, severity = sev, summary = summary, explanation = expl, advice = info.advice,
        evidence = {
          cause = name, class = info.class, permanent = info.permanent or false,
          failures = c.failures, local_failures = c.local_failures, attempts = c.attempts,
          by_status = c.by_status, messages = c.messages, recipients = c.recipients, domains = c.domains,
          addresses = c.addresses, distinct_exact = c.exact,
          first_seen = util.iso(c.first_seen), last_seen = util.iso(c.last_seen),
          top_domains = ranked, top_addresses = c.top_addresses, sample_text = c.sample,
          -- present when the ranking left some out (the output of a log under the cap is unchanged)
          top_domains_untracked = (c.top_domains_untracked or 0) > 0 and c.top_domains_untracked or nil,
          top_addresses_untracked = (c.top_addresses_untracked or 0) > 0 and c.top_addresses_untracked or nil,
          histogram = L.histogram.series[name],
        },
      }
    end
  end,
}

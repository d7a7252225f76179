-- The overall answer: can a sender reach a mail host of this domain at all,
-- and is it the one it should prefer?

-- The verdict is a pure function of the two facts it reads (nothing in it
-- names the domain), and in a batch most domains publish the very same sealed
-- tcp.results and smtp.sessions lists (shared.list: one per sequence of
-- per-address entries). So the finding is worked out once per pair of those
-- tables and kept sealed (util.seal): report:finding converts it once per run
-- and each check gets a copy (l_report.c), instead of labels, maps and a
-- finding built and converted per domain (issue 21). Weak-keyed by the facts
-- themselves: an entry goes with its lists (an epoch's), and a fact sealed
-- per check (a site rule's plain list) is a key of its own.
local by_results = setmetatable({}, { __mode = "k" })
local NO_SESSIONS = {} -- the key when smtp.sessions is not published
local seal = util.seal

-- the finding for tcp.results and smtp.sessions (nil: not published)
local function verdict(results, sessions)
  local greeting, limited = {}, {}
  for _, s in ipairs(sessions or {}) do
    local k = s.address .. "|" .. tostring(s.source)
    greeting[k] = s.greeting or false
    if s.rate_limited then limited[k] = true end
  end
  local best = math.huge
  for _, r in ipairs(results) do
    if (r.preference or 0) < best then best = r.preference or 0 end
  end
  local primary_ok, any_ok, accepted, failed, delayed = false, false, {}, {}, {}
  local tempfail = false
  for _, r in ipairs(results) do
    local label = string.format("%s[%s]%s", r.host, r.address, r.source and (" from " .. r.source) or "")
    local k = r.address .. "|" .. tostring(r.source)
    local g = greeting[k]
    local usable = r.verdict == "connected" and (g == nil or (g and g >= 200 and g < 300) or false)
    if r.verdict == "connected" and limited[k] then
      delayed[#delayed + 1] = label .. ": rate-limited (greeting " .. g .. ")"
    elseif r.verdict == "connected" and g and g >= 400 and g < 500 then
      -- a 4xx greeting is "not now": senders queue and retry
      delayed[#delayed + 1] = label .. ": temporary refusal (greeting " .. g .. ")"
      tempfail = true
    elseif r.verdict == "connected" and not usable then
      failed[#failed + 1] = label .. ": connected, but " ..
        (g and ("greeting " .. g) or "no SMTP greeting")
    elseif usable then
      any_ok = true
      if (r.preference or 0) == best then primary_ok = true end
      accepted[#accepted + 1] = label
    else
      failed[#failed + 1] = label .. ": " .. r.verdict
    end
  end
  local ev = { accepted = accepted, failed = failed, rate_limited = #delayed > 0 and delayed or nil }
  -- each finding concludes from the per-address ones: the verdict line names the cause
  if primary_ok then
    return {
      code = "delivery.ok",
      conclusion = true,
      summary = string.format("A most-preferred mail host accepts %s (%s)",
        sessions and "SMTP sessions" or "connections", accepted[1]),
      evidence = ev,
    }
  elseif any_ok then
    return {
      code = "delivery.backup_only",
      conclusion = true,
      summary = "The most preferred mail host fails; only a backup MX accepts connections",
      explanation = "Senders try MX hosts in preference order, so mail still flows through the backup, "
        .. "but later and only if the backup relays it onward. Backups often have weaker spam filtering "
        .. "and may queue mail for days.",
      advice = "Fix the primary MX (see its finding above).",
      evidence = ev,
    }
  elseif #delayed > 0 and tempfail and not next(limited) then
    return {
      code = "delivery.delayed",
      conclusion = true,
      summary = string.format("No mail host accepts a session from here right now: %s answers 4xx (try "
        .. "later); mail is delayed, not lost", (delayed[1]:gsub(": temporary refusal.*$", ""))),
      explanation = "A 4xx greeting means 'not now' (overload, maintenance, a greylisting or policy pause). "
        .. "Senders keep the mail queued and retry for days (Postfix: maximal_queue_lifetime, 5 days); it is "
        .. "delivered once a host greets with 220. This is not a refusal of the domain's mail.",
      advice = "See the smtp.greeting_tempfail finding for the server's own words; check again later. If it "
        .. "persists for hours, tell the domain's administrators.",
      evidence = { accepted = accepted, failed = failed, delayed = delayed },
    }
  elseif #delayed > 0 then
    return {
      code = "delivery.delayed",
      conclusion = true,
      summary = string.format("No mail host accepts a session from here right now: %s is rate-limited (by "
        .. "connections from your address); mail is delayed, not lost", (delayed[1]:gsub(": rate%-limited.*$", ""))),
      explanation = "A server that limits connections per client answers 421 (4.7.x) while this address is over "
        .. "its limit. Senders keep the mail queued and retry; it is delivered once the address stays under the "
        .. "limit (Postfix anvil counts connections per minute). This is not a refusal of the domain's mail.",
      advice = "See the smtp.rate_limited finding: spread this address's connections to the destination "
        .. "(Postfix smtp_destination_concurrency_limit, smtp_destination_rate_delay), and check again in a "
        .. "minute.",
      evidence = ev,
    }
  else
    return {
      code = "delivery.none",
      conclusion = true,
      summary = "No mail host of this target accepts mail from here: it cannot be delivered",
      explanation = "Every MX address failed at the TCP level or refused the SMTP session (see each finding "
        .. "for who answered and how). "
        .. "Senders will queue and retry, then bounce after their queue lifetime (Postfix: 5 days).",
      advice = "Read the per-address findings: refusals point at the host or its firewall; timeouts at a "
        .. "silent drop (possibly on your own side); ICMP messages name the device that blocks.",
      evidence = ev,
    }
  end
end

return {
  id = "delivery",
  description = "Combines the connection results into one verdict for the domain",
  categories = { "network", "default" },
  requires = { "tcp.results" },
  -- When the SMTP rule runs, an address counts only if it also greets with 2xx.
  wants = { "smtp.sessions" },
  codes = { ["delivery.ok"] = "ok", ["delivery.backup_only"] = "warn", ["delivery.none"] = "crit",
            ["delivery.delayed"] = "warn" },
  run = function(target, report)
    local results, sessions = target.facts["tcp.results"], target.facts["smtp.sessions"]
    local inner = by_results[results]
    if not inner then
      inner = setmetatable({}, { __mode = "k" })
      by_results[results] = inner
    end
    local key = sessions or NO_SESSIONS
    local f = inner[key]
    if not f then
      f = seal(verdict(results, sessions))
      inner[key] = f
    end
    report:finding(f)
  end,
}

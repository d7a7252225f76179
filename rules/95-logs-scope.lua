-- The scope judgement of `mxdiag logs`: whose side is the delivery problem
-- on, and since when. Reads the aggregates (fact `logs`, engine/logfacts.c)
-- and the invalid recipient domains (fact logs.invalid_domains,
-- 97-logs-recipients), which are kept out of this verdict.
--
-- Verdicts (evidence.judgement):
--   no_lines, no_events, no_remote      nothing to judge: say what there is
--   ok                                  no delivery failure to a remote server
--   blocklisted                         remote servers reject our IP as listed (your side)
--   reputation                          remote servers defer us for our reputation, no list named (your side)
--   identity                            remote servers reject us for our reverse DNS, HELO name or
--                                       sender authentication (your side)
--   cutover                             everything external stopped succeeding at a moment
--                                       (your side or upstream, since then)
--   nothing_succeeds                    several destinations fail, none ever succeeded
--   their_side                          one or a few destinations fail, others accept
--   one_fails_unverified                one destination fails and nothing else was tried
--   several_fail_unverified             several fail, none succeeded, no kind of failure shared by two
--   no_route                            this server has no route to some destinations (IPv6): our side
--   intermittent                        failures spread among continuing successes
--   unnamed                             delivery failures, all to domains beyond the memory cap (never
--                                       named per domain: they came after the first max_groups domains
--                                       and had succeeded first, or after max_late_groups failing ones):
--                                       the verdicts above need them named
--   mixed                               anything else
local causes = require("logs_causes")
local util = require("logs_util")

local TOP = 5

local function not_recipient(class) return class ~= "recipient" end

local CUTOVER_ADVICE = {
  route = "This server lost its route at that time (often its IPv6 route or default gateway): check `ip route`, "
    .. "`ip -6 route` and the network configuration.",
  network = "Look at what changed on this server or its network at that time: firewall rules (outbound port 25), "
    .. "the provider (port 25 blocked on a new plan or after an abuse report), a new IP address or route. "
    .. "`nc -vz gmail-smtp-in.l.google.com 25` shows whether port 25 leaves at all.",
  dns = "Your resolver stopped answering at that time: check /etc/resolv.conf, the resolver service, and "
    .. "`dig mx gmail.com` from this host.",
  tls = "TLS started failing for everyone at that time: a change of your TLS settings or CA bundle is likely.",
  policy = "Remote servers started refusing this server at that time: a new IP address without reverse DNS, or a "
    .. "reputation drop. Read the reply texts in the per-cause findings.",
  reputation = "Your IP address was listed at that time: look it up and request delisting.",
  identity = "Remote servers started refusing this server's identity at that time: a new sending IP without "
    .. "reverse DNS, a changed HELO name, or SPF/DKIM/DMARC records that no longer cover this server.",
  other = "Read the per-cause findings for the reply texts from that time on.",
}

local INTERMITTENT_ADVICE = "Failures come and go while the same destinations keep accepting mail: usually the "
  .. "receivers throttling you (4xx replies, \"too many connections\", greylisting: read the reply texts), your "
  .. "provider's or NAT's limit on simultaneous outbound connections (the failures bunch up at busy hours: see the "
  .. "histogram; lower the MTA's concurrency, e.g. default_destination_concurrency_limit), or a flaky route "
  .. "(timeouts spread over all hours and addresses; `mtr` to the failing addresses). Deferred mail is retried: "
  .. "check that it leaves later."


return {
  id = "logs-scope",
  kind = "logs",
  description = "mxdiag logs: whose side the delivery failures are on, and since when",
  categories = { "logs" },
  requires = { "logs.invalid_domains" },
  codes = { ["logs.scope"] = "info" },
  run = function(target, report)
    local L = target.facts.logs
    local invalid = target.facts["logs.invalid_domains"] or {}
    local total = L.total
    local now = L.now

    local ev = { external_failures = total.failures, external_successes = total.successes,
      local_events = total["local"], local_failures = total.local_failures,
      failed_attempts = total.failed_attempts, first_failure = util.iso(total.first_failure),
      last_failure = util.iso(total.last_failure), last_success = util.iso(total.last_success) }

    local cap_note = ""
    local function finish(judgement, sev, summary, explanation, advice)
      ev.judgement = judgement
      explanation = explanation .. cap_note
      report:finding { code = "logs.scope", severity = sev, summary = summary, explanation = explanation,
        advice = advice, evidence = ev }
    end

    if L.lines == 0 then
      return finish("no_lines", "unknown", "the log files hold no lines: nothing could be checked",
        "Every file read was empty (or could not be read), so the logs say nothing about delivery.",
        "Check that the right log files were named (a freshly rotated log is empty: read its rotation too) and "
          .. "that the MTA logs to them. Without rsyslog (Debian 12's default) the MTA logs to the systemd journal "
          .. "only: mxdiag logs --journal.")
    end
    if L.events == 0 then
      return finish("no_events", "info", "no delivery events found in the logs",
        "No outbound delivery attempt was logged in the selected files and time range.",
        "Check that the right log files were read (see files) and that the time range covers the problem.")
    end
    if total.successes + total.failures == 0 then
      local parts = {}
      if total["local"] > 0 then
        parts[#parts + 1] = string.format("%s, %d of them failed", util.n(total["local"], "local delivery",
          "local deliveries"), total.local_failures)
      end
      if total.attempts > 0 then
        parts[#parts + 1] = util.n(total.attempts, "connection attempt") .. " without a recipient's outcome"
      end
      return finish("no_remote", "info",
        "no delivery to a remote server in the logs (" .. table.concat(parts, "; ") .. ")",
        "The logs read hold no outcome of a delivery to a remote server, so they say nothing about outbound "
          .. "delivery. Local deliveries (mailboxes, LMTP, pipes, content filters) are judged in their own findings.",
        "To judge outbound delivery, read logs (or a time range) in which this server sent mail to other domains.")
    end

    -- Per destination: failures that say something about delivery (wrong
    -- addresses and invalid domains apart), successes, timing.
    local failing, ok_domains, cut = {}, 0, {}
    local fail_total, invalid_fail, recipient_fail = 0, 0, 0
    local class_fail = {}
    local named, other_fail = 0, 0
    for _, g in ipairs(L.domains) do
      if invalid[g.key] and not g.other then
        invalid_fail = invalid_fail + g.failures
      else
        -- without failures nothing to classify (most domains: their by_cause
        -- is not walked through the fact's proxy)
        local gf = g.failures
        local df = gf > 0 and util.delivery_failures(g) or 0
        recipient_fail = recipient_fail + (gf - df)
        if g.successes > 0 and not g.other then ok_domains = ok_domains + 1 end
        if g.other then other_fail = df end
        if df > 0 then
          fail_total = fail_total + df
          local cause = util.dominant(g, not_recipient)
          local cls = causes.class(cause)
          class_fail[cls] = (class_fail[cls] or 0) + df
          if not g.other then
            named = named + 1
            failing[#failing + 1] = { name = g.key, failures = df, successes = g.successes, cause = cause,
              share = df / (df + g.successes), last_outcome = g.last_outcome, first_failure = g.first_failure,
              last_failure = g.last_failure, last_success = g.last_success,
              recovered = g.last_success ~= nil and g.first_failure ~= nil and g.last_success > g.first_failure }
          end
        end
      end
    end
    util.rank(failing)
    -- the first failure that counts for the verdict: of a failing destination,
    -- not a rejected recipient or an invalid domain (the whole log's when
    -- every destination fell into the "(other)" group)
    local first_fail
    for _, f in ipairs(failing) do
      if f.first_failure and (not first_fail or f.first_failure < first_fail) then first_fail = f.first_failure end
    end
    first_fail = first_fail or total.first_failure
    -- `mxdiag watch` (target.options.watch): every destination's state, so
    -- that watch tells a destination starting to fail or recovering from the
    -- rules' verdict, not from a judgement of its own. Failing: its latest
    -- outcome at a remote server is a delivery failure (not a rejected
    -- recipient); ok: its latest is a success. Left out of `mxdiag logs`.
    if target.options and target.options.watch then
      local dests = {}
      for _, g in ipairs(L.domains) do
        if not g.other and not invalid[g.key] and (g.successes > 0 or g.failures > 0) then
          local df = util.delivery_failures(g)
          local last_bad = g.last_outcome == "failure" and g.last_cause ~= nil
            and causes.class(g.last_cause) ~= "recipient"
          local state = (last_bad and df > 0) and "failing" or (g.last_outcome == "success" and "ok" or nil)
          if state then
            dests[#dests + 1] = { domain = g.key, state = state, failures = df, successes = g.successes,
              cause = df > 0 and util.dominant(g, not_recipient) or nil,
              last_cause = g.last_cause, failures_since_success = g.failures_since_success,
              first_failure = util.iso(g.first_failure), last_failure = util.iso(g.last_failure),
              first_failure_since_success = util.iso(g.first_failure_since_success),
              last_success = util.iso(g.last_success) }
          end
        end
      end
      util.sort_by(dests, { "domain" })
      ev.destinations = dests
    end
    local dominant, dn = nil, 0
    for _, c in ipairs(L.causes) do
      local name = c.key
      if causes.class(name) ~= "recipient" and c.failures > dn then dominant, dn = name, c.failures end
    end
    local top = {}
    for i = 1, math.min(#failing, TOP) do
      local f = failing[i]
      top[#top + 1] = { domain = f.name, failures = f.failures, successes = f.successes,
        share = math.floor(f.share * 1000 + 0.5) / 1000, cause = f.cause, last_outcome = f.last_outcome,
        last_success = util.iso(f.last_success), last_failure = util.iso(f.last_failure) }
    end
    ev.delivery_failures = fail_total
    ev.invalid_recipient_failures = invalid_fail
    ev.rejected_recipient_failures = recipient_fail
    ev.failing_domains = #failing
    ev.succeeding_domains = ok_domains
    ev.dominant_cause = fail_total > 0 and dominant or nil
    ev.top_failing_domains = top
    local addrs = {}
    for _, a in ipairs(L.addresses) do
      if not a.other and a.failures > 0 then
        addrs[#addrs + 1] = { name = a.key, failures = a.failures, successes = a.successes }
      end
    end
    util.rank(addrs)
    ev.top_failing_addresses = {}
    for i = 1, math.min(#addrs, TOP) do
      ev.top_failing_addresses[i] = { address = addrs[i].name, failures = addrs[i].failures,
        successes = addrs[i].successes }
    end
    ev.groups_dropped = L.dropped
    -- Past the memory cap (the first max_groups domains, addresses seen, then
    -- up to max_late_groups more whose first event failed) other keys are
    -- counted in the totals only: the numbers of domains are lower bounds,
    -- and failing keys among them are not named. Every verdict says so.
    local dropped_dom = L.dropped and L.dropped.domain_events or 0
    local dropped_addr = L.dropped and L.dropped.address_events or 0
    local function cap_what(what, first)
      return string.format("The logs hold more %s than the memory cap keeps apart (the first %d seen, then up to "
        .. "%d more whose first %s failed)", what, L.max_groups, L.max_late_groups, first)
    end
    if dropped_dom > 0 then
      cap_note = " " .. cap_what("domains", "delivery") .. string.format(": %s to other domains ", util.n(dropped_dom,
        "event")) .. (other_fail > 0 and string.format("(%d of them failed deliveries) count in these totals but not "
        .. "per domain, so the numbers of domains are lower bounds and the failing domains named and ranked here "
        .. "may not be all of them (the per-cause findings rank failing domains apart).", other_fail)
        or "count in these totals but not per domain, so the numbers of domains are lower bounds; no failed "
        .. "delivery is among them, so every domain with failed deliveries is named.")
    end
    if dropped_addr > 0 then
      local oa
      for _, a in ipairs(L.addresses) do
        if a.other then oa = a end
      end
      local of = oa and (oa.failures + oa.failed_attempts) or 0
      cap_note = cap_note .. " " .. cap_what("remote addresses", "event") .. string.format(": %s at other "
        .. "addresses ", util.n(dropped_addr, "event")) .. (of > 0 and string.format("(%d of them failures or failed "
        .. "attempts) count in these totals but not per address, so the failing addresses ranked here may not be "
        .. "all of them.", of) or "count in these totals but not per address; none of them is a "
        .. "failure or a failed attempt, so every failing address is counted on its own.")
    end
    local function n_domains(n)
      return (dropped_dom > 0 and "at least " or "") .. util.n(n, "domain")
    end

    local function names(list, n)
      local out = {}
      for i = 1, math.min(#list, n) do out[#out + 1] = list[i].name end
      if #list > n then out[#out + 1] = string.format("and %d more", #list - n) end
      return table.concat(out, ", ")
    end
    local counts = total.successes > 0 and string.format("%s to remote servers, %s to %s",
      util.n(fail_total, "failed delivery", "failed deliveries"),
      util.n(total.successes, "successful delivery", "successful deliveries"), n_domains(ok_domains))
      or string.format("%s to remote servers and not one success",
      util.n(fail_total, "failed delivery", "failed deliveries"))
    local aside = {}
    if invalid_fail > 0 then
      aside[#aside + 1] = util.n(invalid_fail, "failure") .. " to invalid recipient domains"
    end
    if recipient_fail > 0 then
      aside[#aside + 1] = util.n(recipient_fail, "rejected or invalid recipient", "rejected or invalid recipients")
    end
    local aside_text = #aside > 0 and (" Left out of this verdict: " .. table.concat(aside, ", ")
      .. " (their own findings).") or ""

    if fail_total == 0 and total.successes == 0 then
      -- every outcome at a remote server was the recipient's own failure
      return finish("ok", "info",
        string.format("no delivery failure points at the network or the receivers: %s, for the %s "
          .. "themselves; no remote delivery succeeded to compare",
          util.n(total.failures, "failed delivery", "failed deliveries"),
          total.failures == 1 and "recipient" or "recipients"),
        string.format("%s at remote servers failed because of the recipient (a rejected address, a domain that "
          .. "does not exist or accepts no mail: the cause findings name them); none failed for the network, DNS "
          .. "or a receiver's policy, but no success is logged either.",
          util.n(total.failures, "recipient outcome")) .. aside_text,
        "Fix the recipient addresses named in the cause findings; to judge outbound delivery itself, read logs in "
          .. "which this server also delivered mail.")
    end
    if fail_total == 0 then
      return finish("ok", "ok",
        string.format("no delivery failures to remote servers (%s to %s)",
          util.n(total.successes, "successful delivery", "successful deliveries"), n_domains(ok_domains)),
        string.format("%d of %d recipient outcomes at remote servers succeeded; no failure to a remote server "
          .. "points at the network, this server or the receivers.", total.successes,
          total.successes + total.failures) .. aside_text,
        "Nothing to fix in outbound delivery according to the logs.")
    end

    local T = total.last_success
    -- blocklisted: remote servers name a blocklist for our IP
    local rbl = class_fail.reputation or 0
    local rbl_cause
    for _, c in ipairs(L.causes) do if c.key == "rbl_reject" then rbl_cause = c end end
    if rbl_cause and rbl_cause.failures > 0 and (rbl * 2 >= fail_total or (rbl_cause.domains or 0) >= 2) then
      ev.since = util.iso(rbl_cause.first_failure)
      return finish("blocklisted", "crit",
        string.format("remote servers reject your IP as blocklisted (your side: IP reputation) since %s",
          util.when(rbl_cause.first_failure, now)),
        string.format("%d deliveries to %s were rejected naming a blocklist; %s.", rbl_cause.failures,
          util.n(rbl_cause.domains or 0, "domain"), counts) .. aside_text,
        causes.get("rbl_reject").advice)
    end

    -- Refused for something of the sending side's own, whatever other receivers do: its identity
    -- (reverse DNS, HELO name, SPF/DKIM/DMARC: any cause of class identity), or its reputation
    -- without a list named (sender_reputation: Yahoo's complaints deferrals, Gmail's spam-rate
    -- limits). The judgement when such a cause makes half the failures or hits two domains; one
    -- receiver may be stricter than most: crit when two or more refuse.
    local function own_side(judgement, cause, what, which, done)
      if not (cause and ((cause.failures * 2 >= fail_total) or (cause.domains or 0) >= 2)) then return nil end
      ev.since = util.iso(cause.first_failure)
      local doms = cause.domains or 0
      finish(judgement, doms >= 2 and "crit" or "warn",
        string.format("remote servers %s (%s; your side) since %s", what, which, util.when(cause.first_failure, now)),
        string.format("%s to %s %s %s (the reply texts are quoted in the cause's finding); %s.",
          util.n(cause.failures, "delivery", "deliveries"), util.n(doms, "domain"),
          cause.failures == 1 and "was" or "were", done, counts) .. aside_text,
        causes.get(cause.key).advice)
      return true
    end
    local id_cause, rep_cause
    for _, c in ipairs(L.causes) do
      if c.failures > 0 then
        if causes.class(c.key) == "identity" and (not id_cause or c.failures > id_cause.failures) then id_cause = c end
        if c.key == "sender_reputation" then rep_cause = c end
      end
    end
    if own_side("identity", id_cause, "refuse this server's identity", "reverse DNS, HELO name or sender "
      .. "authentication", "rejected for how this server identifies itself") then return end
    if own_side("reputation", rep_cause, "defer or refuse this server for its reputation", "complaints, spam rate",
      "deferred or refused for this server's reputation, no blocklist named") then return end

    -- cutover: after the last success, only failures, to several destinations
    if T then
      local after, before_ok = {}, 0
      for _, f in ipairs(failing) do
        if f.last_failure and f.last_failure > T then
          after[#after + 1] = f
          if f.successes > 0 then before_ok = before_ok + 1 end
        end
      end
      local since_fails = total.failures_since_success
      if #after >= 2 and before_ok >= 1 and since_fails >= 3 then
        -- the trouble's cause: the most common last cause among them
        local by = {}
        for _, f in ipairs(after) do by[f.cause] = (by[f.cause] or 0) + 1 end
        local cause, cn = nil, 0
        for name, n in pairs(by) do if n > cn or (n == cn and name < cause) then cause, cn = name, n end end
        local cls = causes.class(cause)
        ev.judgement_cause = cause
        local onset = total.first_failure_since_success or T
        ev.since = util.iso(onset)
        ev.last_success = util.iso(T)
        ev.failures_since = since_fails
        ev.domains_failing_since = #after
        local where = cls == "network" and "your side or upstream: outbound port 25"
          or cls == "route" and "your side: this server's routes"
          or cls == "dns" and "your side: the resolver" or cls == "tls" and "your side: TLS settings"
          or cls == "policy" and "remote servers refuse this server" or "your side or upstream"
        return finish("cutover", "crit",
          string.format("every remote delivery fails since %s (%s; %s)", util.when(onset, now),
            causes.get(cause).title, where),
          string.format("The last successful delivery to a remote server was at %s; from %s on, %s to %s failed "
            .. "and none succeeded (%d of these destinations had accepted mail before), mostly '%s'. In all: %s.",
            util.iso(T), util.iso(onset), util.n(since_fails, "recipient delivery", "recipient deliveries"),
            util.n(#after, "destination"), before_ok, cause, counts) .. aside_text,
          (CUTOVER_ADVICE[cls] or CUTOVER_ADVICE.other) .. " " .. causes.get(cause).advice)
      end
    end

    -- Failures, every one of them to domains past the memory cap: the verdicts
    -- below compare named destinations, and there is none.
    if #failing == 0 then
      ev.since = util.iso(first_fail)
      return finish("unnamed", "warn",
        string.format("%s to remote servers failed (%s), all to domains past the memory cap: too many "
          .. "domains in the logs read to judge them one by one", util.n(fail_total, "delivery", "deliveries"),
          causes.get(dominant).title),
        string.format("%s; mostly '%s'. Every failing domain came after the first %d domains seen and was "
          .. "delivered to before its first failure, or came after %d more failing ones, so none is named here.",
          counts, dominant, L.max_groups, L.max_late_groups) .. aside_text,
        "Read the per-cause findings (they rank the failing domains and addresses apart), or narrow what is read "
          .. "(--since/--until, --domain DOMAIN) to judge them. " .. causes.get(dominant).advice)
    end

    if total.successes == 0 then
      ev.since = util.iso(first_fail)
      if #failing == 1 then
        local f = failing[1]
        return finish("one_fails_unverified", "warn",
          string.format("deliveries to %s fail (%s); no other remote delivery in the logs to compare", f.name,
            causes.get(f.cause).title),
          string.format("%s to %s failed since %s, mostly '%s', and no delivery to any other remote server was "
            .. "logged, so the logs cannot tell whether the problem is at that destination or on this side.",
            util.n(f.failures, "delivery", "deliveries"), f.name, util.iso(f.first_failure), f.cause) .. aside_text,
          "Send a test message to a large provider (or run `mxdiag check " .. f.name .. "` and `mxdiag check "
            .. "gmail.com` from this host) to tell the two apart. " .. causes.get(f.cause).advice)
      end
      -- a kind of failure shared by two destinations can be this side's (connection failures of any
      -- sort count as one kind: an IPv4 timeout and an IPv6 "network unreachable" to two hosts are one
      -- blocked port 25); when each destination fails its own way (one domain's broken name servers,
      -- another's reputation deferral), nothing points at this server
      local per_kind, sharing = {}, 0
      for _, f in ipairs(failing) do
        local k = causes.class(f.cause)
        if k == "route" then k = "network" end
        per_kind[k] = (per_kind[k] or 0) + 1
        if per_kind[k] > sharing then sharing = per_kind[k] end
      end
      if sharing < 2 then
        local each = {}
        for i = 1, math.min(#failing, TOP) do
          each[#each + 1] = string.format("%s: %s", failing[i].name, causes.get(failing[i].cause).title)
        end
        if #failing > TOP then each[#each + 1] = string.format("and %d more", #failing - TOP) end
        return finish("several_fail_unverified", "warn",
          string.format("deliveries to %s fail, each for its own reason (%s); no remote delivery succeeded to "
            .. "compare", util.n(#failing, "destination"), table.concat(each, "; ")),
          string.format("Not one delivery to a remote server succeeded in the logs read (%s), but no kind of "
            .. "failure is shared by two destinations, so the logs do not point at this server or its network: each "
            .. "destination's cause finding quotes what went wrong there.", counts) .. aside_text,
          "Run `mxdiag check DOMAIN` for each failing destination, and `mxdiag check gmail.com` from this host to "
            .. "see whether delivery works at all; then follow each cause finding's advice.")
      end
      local cls = causes.class(dominant)
      return finish("nothing_succeeds", "crit",
        string.format("no remote delivery succeeded: %s to %s failed (%s; your side or upstream) since at least %s",
          util.n(fail_total, "delivery", "deliveries"), util.n(#failing, "destination"),
          causes.get(dominant).title, util.when(first_fail, now)),
        string.format("Not one delivery to a remote server succeeded in the logs read; %s, mostly '%s': %s.",
          counts, dominant, names(failing, TOP)) .. aside_text,
        (CUTOVER_ADVICE[cls] or CUTOVER_ADVICE.other) .. " " .. causes.get(dominant).advice)
    end

    -- this server has no route to some destinations (IPv6, mostly): our side, however few
    local route = class_fail.route or 0
    if route * 2 >= fail_total then
      local where = {}
      for _, f in ipairs(failing) do if causes.class(f.cause) == "route" then where[#where + 1] = f end end
      ev.since = util.iso(first_fail)
      return finish("no_route", "warn",
        string.format("this server has no route to %s (network unreachable: mostly IPv6; your side): %s",
          util.n(#where, "destination"), names(where, TOP)),
        string.format("%d of the failed deliveries say 'Network is unreachable': the connection never left this "
          .. "machine, for lack of a route to the address (family). %s; %s failed on the way to addresses "
          .. "(often IPv6 ones) before another address delivered.", route, counts,
          util.n(total.failed_attempts, "connection attempt")) .. aside_text,
        causes.get("net_unreachable").advice)
    end

    -- failures among continuing successes
    local recovered, rec_fail = 0, 0
    for _, f in ipairs(failing) do
      if f.recovered then recovered = recovered + 1; rec_fail = rec_fail + f.failures end
    end
    local active = ok_domains + #failing
    ev.recovered_domains = recovered
    local few = #failing <= 3 or #failing * 10 <= active
    -- a set of the failing names, not a scan of `failing` per domain (it was
    -- domains x failing reads of g.key through the fact's proxy)
    local others_ok, is_failing = 0, {}
    for _, f in ipairs(failing) do is_failing[f.name] = true end
    for _, g in ipairs(L.domains) do
      if g.successes > 0 and not g.other then
        local key = g.key
        if not invalid[key] and not is_failing[key] then others_ok = others_ok + 1 end
      end
    end
    ev.other_accepting_domains = others_ok
    if #failing >= 3 and recovered * 2 >= #failing and rec_fail * 2 >= fail_total
        and total.successes >= fail_total then
      return finish("intermittent", "warn",
        string.format("intermittent failures: %s among %s, spread over %s that keep accepting mail",
          util.n(fail_total, "failed delivery", "failed deliveries"),
          util.n(total.successes, "success", "successes"), util.n(recovered, "destination")),
        string.format("%d of the %s accepted mail again after failing (last success %s); %s; "
          .. "mostly '%s'.", recovered, util.n(#failing, "failing destination"), util.iso(T), counts, dominant)
          .. aside_text,
        INTERMITTENT_ADVICE .. " " .. causes.get(dominant).advice)
    end
    if few and others_ok > 0 then
      local f = failing[1]
      -- since the first failure of any of them, not of the one ranked first
      local first = first_fail
      ev.since = util.iso(first)
      local which = #failing == 1 and ("deliveries to " .. f.name .. " fail")
        or (util.n(#failing, "destination") .. " fail: " .. names(failing, TOP))
      -- "meanwhile" only when a success came after the failures began
      local meanwhile = T and first and T >= first
      local others = meanwhile
        and string.format("Deliveries to %s succeeded meanwhile (last %s), so this server can send: the problem "
          .. "is at the failing %s.", util.n(others_ok, "other domain"), util.iso(T),
          #failing == 1 and "destination" or "destinations")
        or string.format("Deliveries to %s succeeded before these failures began (last %s); no success is logged "
          .. "after %s, so the logs do not show whether other destinations still accept mail: read the reply "
          .. "texts in the per-cause findings.", util.n(others_ok, "other domain"), util.iso(T), util.iso(first))
      return finish("their_side", "warn",
        string.format("%s (their side) since %s; %s %s", which, util.when(first, now),
          util.n(others_ok, "other domain"), meanwhile and (others_ok == 1 and "accepts your mail" or
          "accept your mail") or "accepted your mail before that"),
        string.format("%s, mostly '%s'. %s", counts, f.cause, others) .. aside_text,
        "Wait for the destination to recover (deferred mail is retried), or contact its postmaster with the reply "
          .. "text quoted in the per-cause findings. " .. causes.get(f.cause).advice)
    end
    ev.since = util.iso(first_fail)
    return finish("mixed", "warn",
      string.format("%s fail for different reasons (mixed)%s", util.n(#failing, "destination"),
        others_ok > 0 and string.format(" while %s accept mail", util.n(others_ok, "other domain")) or ""),
      string.format("%s; most affected: %s; dominant cause '%s'.", counts, names(failing, TOP), dominant)
        .. aside_text,
      "Look at the per-cause findings: each names its domains and addresses, and the advice for that cause.")
  end,
}

-- Where on the path do SMTP packets die? A TCP traceroute to the SMTP port
-- without root: connect() with TTL 1, 2, 3 ... (net.connect{ttl=n}); each
-- router that drops the probe for its TTL sends ICMP time-exceeded, which
-- the engine reads from the socket's error queue (detail.icmp.from).
-- Runs only for addresses that timed out or were turned away by something
-- other than the MX host itself.
local endpoint = require("tcp_explain").endpoint
local shared = require("shared")
-- path.traces when nothing needs a trace (most domains): one sealed empty
-- list, which report:publish takes as it is instead of sealing a new {} per
-- domain (issue 21)
local NO_TRACES = util.seal({})
local MAX_HOPS = 30
local SILENT_STOP = 3 -- consecutive silent hops after which the trace ends
local WINDOW = 8      -- probes of one trace in flight at once (traceroute: 16)
-- A silent hop is asked again before it counts as silent: routers limit the
-- ICMP errors they send (Linux: a burst of 6 per destination, then 1/s;
-- net.ipv4.icmp_msgs_per_sec in total; many internet routers a few per
-- second in total), and the connect, the other rules' probes and a burst of
-- TTLs draw from the same budget. As traceroute: PROBES per hop, spread.
local PROBES = 3      -- probes per hop (traceroute -q 3)
local PACE = 1        -- s at least between two probes to one hop
-- When not even hop 1 answers a probe to the mail port, one probe with TTL 1
-- to this port of the same address tells a first router that answers only
-- for other ports (the block is on this side of it) from an MX host that is
-- itself hop 1 (nothing lies between) and from a first hop that answers
-- nothing at all (the trace cannot say where the packets stop).
local COMPARE_PORT, COMPARE_PORT_ALT = 443, 80
local STAGGER = 0.25  -- s between the probes of one retry round (lowest TTL first)

local function is_v6(a) return a:find(":", 1, true) ~= nil end

local function time_exceeded(d, v6)
  return d and d.icmp and d.icmp.type == (v6 and 3 or 11)
end

-- Does an ICMP destination-unreachable say that a filter stopped the packet on purpose (port unreachable
-- from a device that is not the MX host, administratively prohibited, a reject route), rather than that the
-- router has no way on (network/host/address unreachable, no route: a host that is down, a routing fault)?
local FILTER_CODES = { [false] = { [3] = true, [9] = true, [10] = true, [13] = true },
                       [true] = { [1] = true, [4] = true, [5] = true, [6] = true } }
local function deliberate(icmp, v6)
  return icmp ~= nil and icmp.type == (v6 and 1 or 3) and FILTER_CODES[v6][icmp.code] == true
end

-- Needs a trace: a timeout, or an ICMP error from someone other than the MX.
local function wants_trace(r)
  if r.verdict == "timeout" then return true end
  return false
end

-- Does port 25 leave this host at all (from `source`)? The outbound rule's
-- conclusion when it has one (fact `outbound.verdict`: the stronger evidence,
-- a control mail host answering), else the same question asked here of the
-- control hosts (--control; each connect once per run). Returns the control
-- that accepted ("host [address]"), false when every control failed, or nil
-- when nothing is known (no control host configured).
local function port25_leaves(target, source)
  local v = target.facts["outbound.verdict"]
  if v == "remote_filtered" then return "a control mail host (outbound.remote_filtered)" end
  if v == "port25_blocked" then return false end
  local controls = target.options.control_hosts or {}
  if #controls == 0 then return nil end
  local timeout = target.options.timeout or 10
  local want = source and (net.parse_address(source) or {}).family
  local jobs, names = {}, {}
  for _, c in ipairs(controls) do
    local addrs = {}
    if net.parse_address(c) then addrs = { c } else
      for _, t in ipairs { "A", "AAAA" } do
        local ans = dns.query(c, t)
        if ans and ans.status == "NOERROR" then for _, rr in ipairs(ans.answers) do addrs[#addrs + 1] = rr.data end end
      end
    end
    for _, a in ipairs(addrs) do
      local pa = net.parse_address(a)
      if pa and (not want or pa.family == want) then
        names[#names + 1] = string.format("%s [%s]", c, a)
        jobs[#jobs + 1] = { "path-control|" .. a .. "|" .. tostring(source) .. "|" .. tostring(timeout), function()
          local sock = net.connect(a, 25, { timeout = timeout, source = source })
          if sock then sock:close(); return true end
          return false
        end }
      end
    end
  end
  if #jobs == 0 then return nil end
  local ok = shared.all(jobs)
  for i, yes in ipairs(ok) do if yes then return names[i] end end
  return false
end

-- One probe: connect with a TTL. Returns what came back.
local function probe(address, port, ttl, probe_timeout, source)
  local sock, verdict, d = net.connect(address, port, { ttl = ttl, timeout = probe_timeout, source = source })
  if sock then
    sock:close()
    return { connected = true }
  end
  return { verdict = verdict, d = d or {} }
end

-- What one probe's answer says about its hop: nil (no answer), or the hop
-- with .terminal (the outcome) when the trace ends there.
local function classify(address, ttl, r, v6)
  local verdict, d = r.verdict, r.d
  if r.connected then
    return { ttl = ttl, address = address, what = "connected", terminal = { kind = "reached", ttl = ttl } }
  elseif time_exceeded(d, v6) then
    return { ttl = ttl, address = d.icmp.from, what = "time exceeded", ms = d.elapsed_ms }
  elseif verdict == "timeout" then
    return nil
  elseif verdict == "refused" then
    return { ttl = ttl, address = address, what = "reset (refused) from the MX host",
             terminal = { kind = "reached", ttl = ttl } }
  elseif d.icmp then
    local o = d.icmp.from_destination and { kind = "reached", ttl = ttl, icmp = d.icmp }
      or { kind = "rejected", ttl = ttl, icmp = d.icmp, from = d.icmp.from, verdict = verdict }
    return { ttl = ttl, address = d.icmp.from, what = d.icmp.text, terminal = o }
  end
  return { ttl = ttl, what = tostring(verdict) .. ": " .. tostring(d.error),
           terminal = { kind = "error", ttl = ttl, verdict = verdict, error = d.error } }
end

-- One address. The first round sends WINDOW TTLs at once (fast when every
-- hop answers); a hop that stays silent after the last answering one is
-- probed again, alone and paced, up to PROBES times, before it counts as
-- silent; the trace ends after SILENT_STOP such hops, at the MX host, at an
-- ICMP error, or when the next round would exceed the time budget. The
-- budget counts each round's own cost (its waits), not the clock: time spent
-- queued for a local connection slot (--max-connections, --per-host) is not
-- the path's, so a cap on connections never changes the verdict. Returns the
-- hops, the outcome and the probe counts.
local function trace(address, port, probe_timeout, retry_timeout, budget, source)
  local v6 = is_v6(address)
  local st, top = {}, 0   -- st[ttl] = {sent, hop}: probes sent, the answer
  local outcome
  local stats = { sent = 0, paced_s = 0, answered_on_retry = {} }
  local spent = 0
  while true do
    local last_answered = 0
    for ttl = 1, top do
      local h = st[ttl].hop
      if h and h.terminal then outcome = h.terminal break end
      if h then last_answered = ttl end
    end
    if outcome then break end
    -- the silent hops after the last answering one: retried until PROBES each
    local run, todo = {}, {}
    for ttl = last_answered + 1, top do run[#run + 1] = ttl end
    for i = 1, math.min(#run, SILENT_STOP) do
      if st[run[i]].sent < PROBES then todo[#todo + 1] = run[i] end
    end
    if #todo == 0 and (#run >= SILENT_STOP or top >= MAX_HOPS) then
      outcome = { kind = #run > 0 and "silent" or "incomplete", ttl = run[1] or top + 1 }
      break
    end
    local retries = #todo
    local more = #run == 0 and WINDOW or math.max(0, SILENT_STOP - #run)
    -- a round with retries is paced: a previous probe to each of those hops
    -- went unanswered and waited its timeout; wait at least PACE in all, and
    -- spread the round's probes so that one ICMP token answers the lowest hop
    local lead = retries > 0 and math.max(0, PACE - retry_timeout) or 0
    local cost = retries > 0 and (lead + (retries - 1) * STAGGER + retry_timeout) or probe_timeout
    if spent + cost > budget then
      outcome = { kind = "budget", ttl = run[1] or top + 1 }
      break
    end
    for ttl = top + 1, math.min(MAX_HOPS, top + more) do
      st[ttl] = { sent = 0 }
      todo[#todo + 1] = ttl
    end
    top = math.max(top, todo[#todo])
    local jobs = {}
    for i, ttl in ipairs(todo) do
      local paced = i <= retries
      local wait = paced and (lead + (i - 1) * STAGGER) or 0
      jobs[i] = function()
        if wait > 0 then task.sleep(wait) end
        return probe(address, port, ttl, paced and retry_timeout or probe_timeout, source)
      end
    end
    spent = spent + cost
    if retries > 0 then stats.paced_s = stats.paced_s + cost end
    local got = task.all(jobs)
    for i, ttl in ipairs(todo) do
      local s = st[ttl]
      s.sent = s.sent + 1
      stats.sent = stats.sent + 1
      local h = classify(address, ttl, got[i], v6)
      if h and not s.hop then
        s.hop = h
        if s.sent > 1 then
          stats.answered_on_retry[#stats.answered_on_retry + 1] = { ttl = ttl, probe = s.sent, address = h.address }
        end
      end
    end
  end
  -- the hops up to the outcome: the terminal answer, or the silent hops the verdict rests on
  local terminal = outcome.kind == "reached" or outcome.kind == "rejected" or outcome.kind == "error"
  local stop = terminal and outcome.ttl or math.min(top, (outcome.ttl or top) + SILENT_STOP - 1)
  if outcome.kind == "rejected" then
    -- an ICMP error with a TTL beyond silent hops: when the device that answered the last hop
    -- before them rejects, the packets stop at the next hop (its answers to the TTLs between
    -- were rate-limited)
    for ttl = outcome.ttl - 1, 1, -1 do
      local h = st[ttl].hop
      if h then
        if ttl < outcome.ttl - 1 and h.address == outcome.from then
          outcome.answered_ttl = outcome.ttl
          outcome.ttl = ttl + 1
        end
        break
      end
    end
  end
  local hops = {}
  stats.unanswered, stats.short = 0, false
  for ttl = 1, stop do
    local s = st[ttl]
    if s.hop then
      local h = s.hop
      hops[#hops + 1] = { ttl = ttl, address = h.address, what = h.what, ms = h.ms, probes = s.sent }
    else
      local full = s.sent >= PROBES
      hops[#hops + 1] = { ttl = ttl, probes = s.sent, what = full and string.format("no answer (%d probes)", s.sent)
        or string.format("no answer (possibly rate-limited; %d of %d probes sent)", s.sent, PROBES) }
      if not terminal and ttl >= (outcome.ttl or 1) then
        stats.unanswered = stats.unanswered + s.sent
        stats.short = stats.short or not full
      end
    end
  end
  return hops, outcome, stats
end

local function render(hops)
  local parts = {}
  for _, h in ipairs(hops) do parts[#parts + 1] = string.format("%d %s", h.ttl, h.address or "*") end
  return table.concat(parts, ", ")
end

return {
  id = "path",
  description = "TCP traceroute to the SMTP port of MX addresses that time out or are rejected on the way",
  categories = { "network", "default", "path" },
  requires = { "tcp.results" },
  provides = { "path.traces" },
  codes = { ["path.dies_at_hop"] = "warn", ["path.rejected_at"] = "warn", ["path.no_answer"] = "info",
            ["path.reached"] = "info" },
  run = function(target, report)
    local results = target.facts["tcp.results"]
    local timeout = target.options.timeout or 10
    -- one probe's wait: time-exceeded comes back in milliseconds; silence costs the whole wait
    local probe_timeout = math.min(timeout, 3)
    -- the rule's deadline is 6 network timeouts; each trace's rounds may cost
    -- 5 of them (the traces run side by side), a margin for reporting
    local budget = math.max(2, timeout * 5)
    local todo, seen = {}, {}
    for _, r in ipairs(results) do
      local rejected_on_path = r.verdict ~= "connected" and r.verdict ~= "refused" and r.verdict ~= "timeout"
        and r.icmp_from_destination == false
      if (wants_trace(r) or rejected_on_path) then
        local key = r.address .. "|" .. tostring(r.source)
        if not seen[key] then
          seen[key] = true
          todo[#todo + 1] = r
        end
      end
    end
    if #todo == 0 then
      report:publish("path.traces", NO_TRACES)
      return
    end
    -- ICMP errors the connects drew, by address: evidence on the device when its trace answers stay silent
    local icmp_seen = {}
    for _, r in ipairs(results) do
      if r.icmp_from and r.icmp_from_destination == false and not icmp_seen[r.address] then
        icmp_seen[r.address] = r
      end
    end
    local retry_timeout = math.min(probe_timeout, 2)
    local jobs = {}
    for i, r in ipairs(todo) do
      -- one trace per address, port and source for the whole run (batch)
      local key = "path|" .. r.address .. "|" .. shared.str(r.port or 25) .. "|" .. tostring(r.source) .. "|" .. shared.str(probe_timeout)
      jobs[i] = { key, function()
        local port = r.port or 25
        local hops, outcome, stats = trace(r.address, port, probe_timeout, retry_timeout, budget, r.source)
        local compare
        local any = false
        for _, h in ipairs(hops) do if h.address then any = true end end
        -- only when the family is not known to work: without a control host it tells a block at the first
        -- router from silence; with one that accepts port 25, a block for this destination at the first
        -- router (this side) from one further on
        if not any and not r.other_family_ok
            and (outcome.kind == "silent" or outcome.kind == "budget" or outcome.kind == "incomplete") then
          local cport = port == COMPARE_PORT and COMPARE_PORT_ALT or COMPARE_PORT
          local h = classify(r.address, 1, probe(r.address, cport, 1, probe_timeout, r.source), is_v6(r.address))
          stats.sent = stats.sent + 1
          compare = { port = cport, answered = h ~= nil, address = h and h.address or nil,
                      host_itself = h ~= nil and h.terminal ~= nil and h.terminal.kind == "reached" }
        end
        return { hops = hops, outcome = outcome, stats = stats, compare = compare }
      end }
    end
    local traces = shared.all(jobs)
    local published = {}
    for i, r in ipairs(todo) do
      local t = traces[i]
      local hops, o, stats, cmp = t.hops, t.outcome, t.stats, t.compare
      local ev = { host = r.host, preference = r.preference, address = r.address, port = r.port, source = r.source,
                   hops = render(hops), probe_timeout_s = probe_timeout, probes_per_hop = PROBES,
                   probes_sent = stats.sent }
      local retried = {}
      for _, a in ipairs(stats.answered_on_retry) do
        retried[#retried + 1] = string.format("%d %s (probe %d)", a.ttl, tostring(a.address), a.probe)
      end
      if #retried > 0 then ev.answered_on_retry = table.concat(retried, ", ") end
      published[#published + 1] = { address = r.address, source = r.source, hops = hops, outcome = o.kind }
      local last
      for _, h in ipairs(hops) do if h.address then last = h end end
      local seen = icmp_seen[r.address]
      local silent = o.kind == "silent" or o.kind == "budget" or o.kind == "incomplete"
      if silent and seen then
        -- the trace's own probes drew no answer there, but the connect drew an ICMP error from
        -- a device on the path: the device rejects, and limits the ICMP errors it sends
        o = { kind = "rejected", ttl = last and last.address == seen.icmp_from and (last.ttl + 1) or nil,
              from = seen.icmp_from, icmp = { text = seen.icmp_text, type = seen.icmp_type, code = seen.icmp_code },
              seen_by_connect = true, after = last }
        published[#published].outcome = "rejected"
      end
      if o.kind == "rejected" then
        ev.hop = o.ttl
        ev.rejected_by = o.from
        ev.icmp = o.icmp.text
        ev.icmp_type, ev.icmp_code = o.icmp.type, o.icmp.code
        ev.answered_at_ttl = o.answered_ttl
        local where = o.ttl and string.format("at hop %d", o.ttl)
          or (o.after and string.format("after hop %d (%s)", o.after.ttl, o.after.address) or "on the path")
        local icmp_text = o.icmp.text or "an ICMP error"
        local on_purpose = deliberate(o.icmp, is_v6(r.address))
        -- what the ICMP type says: a filter, or a router with no way on (the MX host down, a routing fault)
        local meaning = on_purpose
          and ("The device filters SMTP on purpose (a router ACL or a firewall's reject rule): the MX host never "
            .. "sees the connection.")
          or ("A router sends this when it has no route onward (network unreachable) or when the MX host does not "
            .. "answer on its last network (host or address unreachable: the host is down or its address is not "
            .. "configured there); some firewalls send it from a reject rule too. Either way the MX host never "
            .. "sees the connection.")
        local summary = string.format("%s: the connection is %s %s by %s (%s), not by the MX host",
          endpoint(r.address, r.port or 25), on_purpose and "rejected" or "stopped", where, tostring(o.from), icmp_text)
        local explanation = "The TCP traceroute reached hop " .. tostring(o.ttl) .. ", where the device " .. tostring(o.from)
          .. " answered with an ICMP error instead of forwarding the connection. " .. meaning
        if o.seen_by_connect then
          ev.seen_by = "connect"
          ev.probes_unanswered = stats.unanswered
          summary = summary .. string.format("; the trace's %d probes beyond got no answer (possibly rate-limited)",
            stats.unanswered)
          explanation = "The connection to port " .. (r.port or 25) .. " drew an ICMP error (" .. icmp_text
            .. ") from " .. tostring(o.from) .. ", a device on the path, not the MX host. The traceroute's own "
            .. stats.unanswered .. " probes " .. (o.after and ("beyond hop " .. o.after.ttl .. " ") or "")
            .. "got no answer: routers limit how many ICMP errors they send (Linux about one per second per "
            .. "destination after a small burst; many internet routers a few per second in total), and the "
            .. "connect had used that allowance. " .. meaning
        end
        report:finding {
          code = "path.rejected_at",
          summary = summary,
          explanation = explanation,
          advice = on_purpose and ("Find out who runs " .. tostring(o.from) .. " (whois " .. tostring(o.from) .. "; if it "
            .. "is your own network or your provider's, ask them to allow TCP port 25 to " .. r.address .. ").")
            or ("Ask the recipient domain's postmaster (through another channel) whether " .. r.address .. " is up; "
              .. "if " .. tostring(o.from) .. " is in your network or your provider's, check its route to "
              .. r.address .. " (whois " .. tostring(o.from) .. ")."),
          evidence = ev,
        }
      elseif silent and stats.short then
        -- not every silent hop got its PROBES probes: not enough to say the packets die there
        ev.last_hop = last and last.ttl or nil
        ev.last_hop_address = last and last.address or nil
        ev.first_silent_hop = o.ttl
        ev.probes_unanswered = stats.unanswered
        report:finding {
          code = "path.no_answer",
          summary = string.format("%s: hop %d and beyond: no answer (possibly rate-limited) to %d probes; the trace "
            .. "ran out of time before %d probes per hop", endpoint(r.address, r.port or 25), o.ttl, stats.unanswered,
            PROBES),
          explanation = "The TCP traceroute " .. (last and ("got answers up to hop " .. last.ttl .. " (" .. last.address
            .. ")") or "got no answer from any hop") .. ", then " .. stats.unanswered .. " probes went unanswered. "
            .. "Routers limit the ICMP errors they send, so a few missing answers do not prove that packets die "
            .. "there, and the check's time budget ended before every silent hop was asked " .. PROBES .. " times.",
          advice = "Trace again with more time (a higher --timeout, or tcptraceroute -p " .. (r.port or 25) .. " "
            .. r.address .. ") before concluding where the packets stop.",
          evidence = ev,
        }
      elseif silent then
        local first_silent = o.ttl
        ev.last_hop = last and last.ttl or nil
        ev.last_hop_address = last and last.address or nil
        ev.first_silent_hop = first_silent
        ev.probes_unanswered = stats.unanswered
        local summary
        local counted = string.format("%d probes, %d per hop, none answered", stats.unanswered, PROBES)
        -- one story: when a control mail host accepts port 25 from here, outbound port 25 is not blocked
        -- on this host or by its provider, whatever the silent first hops suggest
        local leaves_known  -- a control host's answer: where it accepts, who to accept; false: it fails too
        if (r.port or 25) == 25 and not r.other_family_ok then leaves_known = port25_leaves(target, r.source) end
        local leaves = leaves_known or nil
        if leaves then ev.port25_leaves_via = leaves end
        if last then
          -- hop N answering its TTL says the packets reached it, not that it forwarded them: it may be the dropper
          summary = string.format("%s: packets stop at or after hop %d (%s); hop %d and beyond never answer (%s)",
            endpoint(r.address, r.port or 25), last.ttl, last.address, first_silent, counted)
        elseif leaves and cmp and cmp.answered and not cmp.host_itself then
          -- port 25 leaves, but not to this address: hop 1 answers another port, never this one
          summary = string.format("%s: hop 1 (%s) answers a probe to port %d but never one to port 25, while %s "
            .. "accepts port 25 from here: port 25 to this address only is dropped on this host or by that first "
            .. "router (%s)", endpoint(r.address, r.port or 25), tostring(cmp.address), cmp.port, leaves, counted)
        elseif leaves then
          -- silence from hop 1 on, yet port 25 leaves: a drop for this destination, anywhere from this host on
          summary = string.format("%s: no hop answers a probe to port 25, while %s accepts port 25 from here: "
            .. "they are dropped for this destination only, and the trace cannot show where (%s)",
            endpoint(r.address, r.port or 25), leaves, counted)
        elseif r.other_family_ok then
          -- the same host answers over the other family: hop 1 may be the MX itself; nothing says where they stop
          summary = string.format("%s: no hop answers a probe to port %d, not even hop 1, while the same host "
            .. "answers over %s (%s)", endpoint(r.address, r.port or 25), r.port or 25, r.other_family_ok, counted)
        else
          summary = string.format("%s: packets die before the first hop: not even hop 1 answers (%s)",
            endpoint(r.address, r.port or 25), counted)
        end
        local limited = #retried > 0 and (" Some hops answered only when asked again (" .. ev.answered_on_retry
          .. "): the routers on this path limit their ICMP errors, which is why each silent hop was asked "
          .. PROBES .. " times, paced, before counting as silent.") or ""
        -- the comparison probe (port 443, TTL 1) when not even hop 1 answered port 25
        local alone = not last and leaves_known == nil and not r.other_family_ok and cmp
        -- a control accepts port 25, yet the first router answers only another port to this address
        local first_side = not last and leaves and cmp and cmp.answered and not cmp.host_itself
        if cmp then ev.compare_port = cmp.port; ev.compare_answered_by = cmp.address end
        if alone and not cmp.answered then
          report:finding {
            code = "path.no_answer",
            summary = string.format("%s: no hop answers, to port %d either: the first router sends no ICMP, so the "
              .. "trace cannot show where the packets stop (%s)", endpoint(r.address, r.port or 25), cmp.port, counted),
            explanation = "Probes to port " .. (r.port or 25) .. " with every TTL went unanswered, and so did a probe "
              .. "to port " .. cmp.port .. " with a TTL of 1. A first router that answers nothing is usual (many "
              .. "providers send no ICMP time-exceeded), so silence here does not say the packets die before it.",
            advice = "Use --control HOST (a mail host known to accept port 25) to tell a block on this side from one "
              .. "at the receiver; `mxdiag local` reads this host's firewall.",
            evidence = ev,
          }
        else
        if alone and cmp.host_itself then
          summary = string.format("%s: no answer to port %d at any TTL, while the MX host itself answers port %d at "
            .. "hop 1 (%s)", endpoint(r.address, r.port or 25), r.port or 25, cmp.port, counted)
        elseif alone then
          summary = string.format("%s: hop 1 (%s) answers a probe to port %d but never one to port %d: it is dropped "
            .. "on this host or by that first router (%s)", endpoint(r.address, r.port or 25), tostring(cmp.address),
            cmp.port, r.port or 25, counted)
        end
        report:finding {
          code = "path.dies_at_hop",
          summary = summary,
          explanation = (alone and cmp.host_itself and ("The MX host answered a probe to port " .. cmp.port
              .. " sent with a TTL of 1, so no router lies between this host and it; probes to port "
              .. (r.port or 25) .. " with every TTL went unanswered. Port " .. (r.port or 25) .. " is dropped either "
              .. "by this host's own output firewall or by the MX host's input firewall: the trace cannot tell "
              .. "the two apart."))
            or (alone and ("A probe to port " .. cmp.port .. " with a TTL of 1 came back as ICMP time-exceeded from "
              .. tostring(cmp.address) .. ", the first router; probes to port " .. (r.port or 25) .. " with the "
              .. "same TTL never did. Something at or before that router drops this port only: an output "
              .. "firewall rule on this host, or the provider's port-25 block (most cloud providers block it by "
              .. "default)."))
            or (first_side and ("A probe to port " .. cmp.port .. " with a TTL of 1 came back as ICMP time-exceeded "
              .. "from " .. tostring(cmp.address) .. ", the first router; probes to port 25 with the same TTL never "
              .. "did, and " .. leaves .. " accepts port 25 from here. So port 25 leaves this host in general, but "
              .. "port 25 to " .. r.address .. " is dropped at or before that first router: a rule for this "
              .. "address on this host (an output rule or a deny-list entry) or in this network, not at the "
              .. "receiver."))
            or (leaves and last and ("Probes to port 25 stop at or after hop " .. last.ttl .. " (" .. last.address
              .. "), but " .. leaves .. " accepts port 25 from here: outbound SMTP is not blocked as a whole, and the "
              .. "packets to " .. r.address .. " left this host and reached " .. last.address .. ". A filter for "
              .. "this destination only drops them at or after that hop, most likely the receiver's firewall or "
              .. "its provider; the routers after it send no ICMP time-exceeded, so the trace cannot show exactly "
              .. "where."))
            or (leaves and ("Probes to port 25 get no answer from any router, not even the first, but " .. leaves
              .. " accepts port 25 from here: outbound SMTP is not blocked as a whole, only to " .. r.address
              .. ". A filter for this destination drops the packets, most often the receiver's firewall or its "
              .. "provider, but it may be a rule for this address on this host or in this network: no router "
              .. "on the way sent ICMP time-exceeded, so the trace cannot show where."))
            or last and ("Probes to port " .. (r.port or 25) .. " with a TTL up to " .. last.ttl .. " came back as ICMP "
              .. "time-exceeded, so the path works up to " .. last.address .. ". From hop " .. first_silent
              .. " on, nothing answers: a device at or right after " .. last.address .. " silently drops SMTP "
              .. "(a provider's port-25 block or a firewall's drop rule), or the next routers do not send ICMP.")
            or (r.other_family_ok and ("Not even the first hop answered a probe to port " .. (r.port or 25)
              .. " over this address family, so the trace cannot show where the packets stop: the first hop may be "
              .. "the MX host itself (its firewall for this family), or routers that send no ICMP for it."))
            or ("Not even the first router answered a probe to port " .. (r.port or 25) .. ". Packets are dropped "
              .. "on this host (an output firewall rule) or by the first router (a provider or cloud security "
              .. "group blocking port 25).")
            .. limited
            .. (r.other_family_ok and (" The same host answers port 25 over " .. r.other_family_ok .. ", so "
              .. "this is not a block of all outbound SMTP.") or ""),
          advice = (alone and cmp.host_itself and ("Run mxdiag local to read this host's firewall rules; if they do "
              .. "not drop port " .. (r.port or 25) .. ", the MX host's firewall does: ask whoever runs it. "
              .. "--control HOST (a mail host known to accept port 25) tells the two apart."))
            or first_side and ("Look for a rule naming " .. r.address .. " on this host (mxdiag local; nft list "
              .. "ruleset; csf -g " .. r.address .. ") and then on the first router " .. tostring(cmp.address)
              .. " or your network's firewall: the receiver never sees these connections.")
            or leaves and last and ("Nothing to change on this host: contact the recipient domain's postmaster "
              .. "(through another channel: its website or the abuse contact in whois) with the time and your "
              .. "sending address.")
            or leaves and ("Check that no rule on this host names " .. r.address .. " (mxdiag local); if none "
              .. "does, contact the recipient domain's postmaster (through another channel: its website or the "
              .. "abuse contact in whois) with the time and your sending address.")
            or r.other_family_ok and ("Port 25 to the same host over " .. r.other_family_ok .. " works from "
              .. "here, so outbound port 25 is not blocked in general: the drop is specific to this address "
              .. "family, at or after " .. (last and last.address or "this host's own network") .. " (a firewall "
              .. "for that family on the receiver's side, often forgotten, or this host's provider/firewall for "
              .. "it). See tcp.family_fails.")
            or last and ("Compare with a trace to another port (e.g. tcptraceroute -p 443 " .. r.address
              .. "): if that goes further, port 25 is filtered at or after " .. last.address .. ". Ask whoever "
              .. "runs that network.")
            or "Run mxdiag local to read this host's firewall; if it does not block port 25, ask the provider "
              .. "whether outbound port 25 is blocked (most clouds block it by default).",
          evidence = ev,
        }
        end
      elseif o.kind == "reached" then
        ev.hops_to_host = o.ttl
        report:finding {
          code = "path.reached",
          summary = string.format("%s: the TCP traceroute reaches the MX host at hop %d", endpoint(r.address, r.port or 25),
            o.ttl),
          explanation = "A probe got through to the MX host itself during the trace, so the path is open; "
            .. "the earlier failure was intermittent or specific to that attempt.",
          evidence = ev,
        }
      end
    end
    report:publish("path.traces", published)
  end,
}

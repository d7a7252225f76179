-- Where on the path do SMTP packets die? A TCP traceroute to the SMTP port
-- without root: connect() with TTL 1, 2, 3 ... (net.connect{ttl=n}); each
-- router that drops the probe for its TTL sends ICMP time-exceeded, which
-- the engine reads from the socket's error queue (detail.icmp.from).
-- Runs only for addresses that timed out or were turned away by something
-- other than the MX host itself.
local endpoint = require("tcp_explain").endpoint
local shared = require("shared")
local MAX_HOPS = 30
local SILENT_STOP = 3 -- consecutive silent hops after which the trace ends
local WINDOW = 8      -- probes of one trace in flight at once (traceroute: 16)

local function is_v6(a) return a:find(":", 1, true) ~= nil end

local function time_exceeded(d, v6)
  return d and d.icmp and d.icmp.type == (v6 and 3 or 11)
end

-- Needs a trace: a timeout, or an ICMP error from someone other than the MX.
local function wants_trace(r)
  if r.verdict == "timeout" then return true end
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

-- One address: probes WINDOW hops at a time, all in flight together (as
-- traceroute does), read in TTL order. A window costs one probe timeout when
-- a hop is silent and milliseconds when every hop answers. Returns the trace.
local function trace(address, port, probe_timeout, deadline, source)
  local v6 = is_v6(address)
  local hops, silent = {}, 0
  local outcome = { kind = "incomplete" }
  local first = 1
  while first <= MAX_HOPS do
    if os.time() >= deadline then
      outcome = { kind = "budget", ttl = first }
      break
    end
    local last = math.min(MAX_HOPS, first + WINDOW - 1)
    local jobs = {}
    for ttl = first, last do
      jobs[#jobs + 1] = function() return probe(address, port, ttl, probe_timeout, source) end
    end
    local got = task.all(jobs)
    local stop = false
    for i = 1, #jobs do
      local ttl, r = first + i - 1, got[i]
      local verdict, d = r.verdict, r.d
      if r.connected then
        hops[#hops + 1] = { ttl = ttl, address = address, what = "connected" }
        outcome = { kind = "reached", ttl = ttl }
        stop = true
      elseif time_exceeded(d, v6) then
        silent = 0
        hops[#hops + 1] = { ttl = ttl, address = d.icmp.from, what = "time exceeded", ms = d.elapsed_ms }
      elseif verdict == "timeout" then
        silent = silent + 1
        hops[#hops + 1] = { ttl = ttl, what = "no answer" }
        if silent >= SILENT_STOP then
          outcome = { kind = "silent", ttl = ttl - silent + 1 }
          stop = true
        end
      elseif verdict == "refused" then
        hops[#hops + 1] = { ttl = ttl, address = address, what = "reset (refused) from the MX host" }
        outcome = { kind = "reached", ttl = ttl }
        stop = true
      elseif d.icmp then
        local from = d.icmp.from
        hops[#hops + 1] = { ttl = ttl, address = from, what = d.icmp.text }
        if d.icmp.from_destination then
          outcome = { kind = "reached", ttl = ttl, icmp = d.icmp }
        else
          outcome = { kind = "rejected", ttl = ttl, icmp = d.icmp, from = from, verdict = verdict }
        end
        stop = true
      else
        hops[#hops + 1] = { ttl = ttl, what = tostring(verdict) .. ": " .. tostring(d.error) }
        outcome = { kind = "error", ttl = ttl, verdict = verdict, error = d.error }
        stop = true
      end
      if stop then break end
    end
    if stop then break end
    first = last + 1
  end
  return hops, outcome
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
  codes = { ["path.dies_at_hop"] = "warn", ["path.rejected_at"] = "warn", ["path.reached"] = "info" },
  run = function(target, report)
    local results = target.facts["tcp.results"]
    local timeout = target.options.timeout or 10
    -- one probe's wait: time-exceeded comes back in milliseconds; silence costs the whole wait
    local probe_timeout = math.min(timeout, 3)
    -- the rule's deadline is 6 network timeouts; keep a margin for reporting
    local deadline = os.time() + math.max(2, math.floor(timeout * 5))
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
      report:publish("path.traces", {})
      return
    end
    local jobs = {}
    for i, r in ipairs(todo) do
      -- one trace per address, port and source for the whole run (batch)
      local key = table.concat({ "path", r.address, r.port or 25, tostring(r.source), probe_timeout }, "|")
      jobs[i] = { key, function()
        local hops, outcome = trace(r.address, r.port or 25, probe_timeout, deadline, r.source)
        return { hops = hops, outcome = outcome }
      end }
    end
    local traces = shared.all(jobs)
    local published = {}
    for i, r in ipairs(todo) do
      local t = traces[i]
      local hops, o = t.hops, t.outcome
      local ev = { host = r.host, preference = r.preference, address = r.address, port = r.port, source = r.source,
                   hops = render(hops), probe_timeout_s = probe_timeout }
      published[#published + 1] = { address = r.address, source = r.source, hops = hops, outcome = o.kind }
      local last
      for _, h in ipairs(hops) do if h.address then last = h end end
      if o.kind == "rejected" then
        ev.hop = o.ttl
        ev.rejected_by = o.from
        ev.icmp = o.icmp.text
        ev.icmp_type, ev.icmp_code = o.icmp.type, o.icmp.code
        report:finding {
          code = "path.rejected_at",
          summary = string.format("%s: the connection is rejected at hop %d by %s (%s), not by the MX host",
            endpoint(r.address, r.port or 25), o.ttl, tostring(o.from), o.icmp.text),
          explanation = "The TCP traceroute reached hop " .. o.ttl .. ", where the device " .. tostring(o.from)
            .. " answered with an ICMP error instead of forwarding the connection. That device filters SMTP "
            .. "on purpose (a router ACL or a firewall's reject rule): the MX host never sees the connection.",
          advice = "Find out who runs " .. tostring(o.from) .. " (whois " .. tostring(o.from) .. "; if it is your "
            .. "own network or your provider's, ask them to allow TCP port 25 to " .. r.address .. ").",
          evidence = ev,
        }
      elseif o.kind == "silent" or o.kind == "budget" or o.kind == "incomplete" then
        local first_silent = o.kind == "silent" and o.ttl or (#hops + 1)
        ev.last_hop = last and last.ttl or nil
        ev.last_hop_address = last and last.address or nil
        ev.first_silent_hop = first_silent
        local summary
        if last then
          summary = string.format("%s: packets die after hop %d (%s); hop %d and beyond never answer",
            endpoint(r.address, r.port or 25), last.ttl, last.address, first_silent)
        else
          summary = string.format("%s: packets die before the first hop: not even hop 1 answers",
            endpoint(r.address, r.port or 25))
        end
        report:finding {
          code = "path.dies_at_hop",
          summary = summary,
          explanation = (last
            and ("Probes to port " .. (r.port or 25) .. " with a TTL up to " .. last.ttl .. " came back as ICMP "
              .. "time-exceeded, so the path works up to " .. last.address .. ". From hop " .. first_silent
              .. " on, nothing answers: a device at or right after " .. last.address .. " silently drops SMTP "
              .. "(a provider's port-25 block or a firewall's drop rule), or the next routers do not send ICMP.")
            or ("Not even the first router answered a probe to port " .. (r.port or 25) .. ". Packets are dropped "
              .. "on this host (an output firewall rule) or by the first router (a provider or cloud security "
              .. "group blocking port 25)."))
            .. (o.kind == "budget" and " The trace stopped at the check's time budget." or "")
            .. (r.other_family_ok and (" The same host answers port 25 over " .. r.other_family_ok .. ", so "
              .. "this is not a block of all outbound SMTP.") or ""),
          advice = r.other_family_ok and ("Port 25 to the same host over " .. r.other_family_ok .. " works from "
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

-- Where is the block? When every MX address of the target fails the same way
-- (all time out, or all refuse), probe controls: the same hosts on other
-- ports (587, 465, 443) and, on port 25, the control mail hosts the user
-- configured (--control HOST; none by default, so no test ever reaches a
-- real host). Port 25 failing everywhere while other ports answer is a block
-- on this side (local firewall or the ISP); only this target failing is theirs.
-- A target with another port (host:2525) is probed on port 25 and the others
-- instead, never against the controls: one closed port is not a block of mail.
-- Publishes the conclusion as fact `outbound.verdict`, which the path rule
-- reads so that its own wording agrees (one story, the stronger evidence wins).
local shared = require("shared")
local endpoint = require("tcp_explain").endpoint
local OTHER_PORTS = { 25, 587, 465, 443 }

local CONTROL_ADVICE = "Add control mail hosts with --control HOST (repeatable), e.g. the MX hosts of large "
  .. "providers that always accept connections: find them with `dig +short MX gmail.com`, "
  .. "`dig +short MX outlook.com`, `dig +short MX yahoo.com` and pass two or three of those names "
  .. "(only connections are opened, no mail is sent)."

-- A reply of any kind proves the path to the host works.
local function answered(v) return v == "connected" or v == "refused" or v == "rejected" end

local function resolve(name)
  if net.parse_address(name) then return { name }, nil end
  local res = task.all {
    function() return table.pack(dns.query(name, "A")) end,
    function() return table.pack(dns.query(name, "AAAA")) end,
  }
  local out, why = {}, {}
  for _, r in ipairs(res) do
    local ans, err = r[1], r[2]
    if ans and ans.status == "NOERROR" then
      for _, rr in ipairs(ans.answers) do out[#out + 1] = rr.data end
    else
      why[#why + 1] = ans and ans.status or err
    end
  end
  table.sort(out)
  return out, #out == 0 and table.concat(why, ", ") or nil
end

return {
  id = "outbound",
  description = "When every MX fails, probes other ports and control hosts to say whose side blocks port 25",
  categories = { "network", "default" },
  requires = { "tcp.results" },
  provides = { "outbound.verdict" },
  codes = {
    ["outbound.port25_blocked"] = "crit", ["outbound.remote_filtered"] = "warn",
    ["outbound.no_control"] = "info", ["outbound.inconclusive"] = "unknown", ["outbound.port_only"] = "info",
  },
  run = function(target, report)
    local results = target.facts["tcp.results"]
    if #results == 0 then return end
    local mode = results[1].verdict
    if mode ~= "timeout" and mode ~= "refused" then return end
    for _, r in ipairs(results) do if r.verdict ~= mode then return end end
    local timeout = target.options.timeout
    local port = results[1].port or 25

    -- the probes leave from the source addresses the tcp rule used (--source-ip),
    -- else from wherever the kernel routes them, as the failed connections did
    local sources, sseen = {}, {}
    for _, r in ipairs(results) do
      local src = r.source or false
      if not sseen[src] then sseen[src] = true; sources[#sources + 1] = src end
    end
    local function fam_ok(src, address)
      if not src then return true end
      local a, b = net.parse_address(src), net.parse_address(address)
      return a and b and a.family == b.family
    end

    -- the probes: same hosts on other ports, controls on port 25
    local probes, seen = {}, {}
    for _, r in ipairs(results) do
      if not seen[r.address] then
        seen[r.address] = true
        for _, p in ipairs(OTHER_PORTS) do
          for _, src in ipairs(sources) do
            -- "other" ports: 25 itself is one when the target named another port (host:2525)
            if p ~= port and fam_ok(src, r.address) then
              probes[#probes + 1] = { kind = "other", host = r.host, address = r.address, port = p, source = src or nil }
            end
          end
        end
      end
    end
    -- control mail hosts answer port 25: they say nothing about another port the target named
    local controls = port == 25 and (target.options.control_hosts or {}) or {}
    local cjobs = {}
    for i, c in ipairs(controls) do cjobs[i] = function() return table.pack(resolve(c)) end end
    local cres = task.all(cjobs)
    local unresolved = {}
    for i, c in ipairs(controls) do
      local addrs, why = cres[i][1], cres[i][2]
      if #addrs == 0 then unresolved[#unresolved + 1] = c .. " (" .. tostring(why) .. ")" end
      for _, a in ipairs(addrs) do
        for _, src in ipairs(sources) do
          if fam_ok(src, a) then
            probes[#probes + 1] = { kind = "control", host = c, address = a, port = 25, source = src or nil }
          end
        end
      end
    end
    -- each probe once per run (a batch has many domains behind the same dead hosts)
    local jobs = {}
    for i, p in ipairs(probes) do
      local key = "outbound|" .. p.address .. "|" .. shared.str(p.port) .. "|" .. tostring(p.source) .. "|" .. shared.str(timeout)
      jobs[i] = { key, function()
        local sock, verdict = net.connect(p.address, p.port, { timeout = timeout, source = p.source })
        if sock then sock:close(); return "connected" end
        return verdict
      end }
    end
    local verdicts = shared.all(jobs)
    local other_ok, other_all, ctl_ok, ctl_bad, ctl_all = {}, {}, {}, {}, {}
    local ctl_ok_host
    for i, p in ipairs(probes) do
      p.verdict = verdicts[i]
      local label = string.format("%s (%s)%s: %s", endpoint(p.address, p.port), p.host,
        p.source and (" from " .. p.source) or "", p.verdict)
      if p.kind == "other" then
        other_all[#other_all + 1] = label
        if answered(p.verdict) then other_ok[#other_ok + 1] = label end
      else
        ctl_all[#ctl_all + 1] = label
        if p.verdict == "connected" then
          ctl_ok[#ctl_ok + 1] = label
          ctl_ok_host = ctl_ok_host or string.format("%s [%s]", p.host, p.address)
        else
          ctl_bad[#ctl_bad + 1] = label
        end
      end
    end
    local what = mode == "timeout" and "times out" or "refuses"
    local ev = { mode = mode, port = port, other_ports = other_all, controls = ctl_all,
                 unresolved_controls = #unresolved > 0 and unresolved or nil }

    if port ~= 25 and #other_ok > 0 then
      -- host:2525 — the host answers elsewhere: this port alone is closed there, not a block of outbound mail
      report:publish("outbound.verdict", "port_only")
      report:finding {
        code = "outbound.port_only",
        summary = string.format("Every address of the target %s on port %d, but answers on other ports (%s): "
          .. "the host is reachable; port %d is closed or filtered there", what, port, table.concat(other_ok, "; "),
          port),
        explanation = "The same hosts answered on another port, so the network path to them works and outbound "
          .. "connections leave this host. Only the port that was asked for fails: nothing listens on port "
          .. port .. " there, or a firewall there " .. (mode == "timeout" and "drops" or "refuses") .. " that port.",
        advice = "Check the port: is a server meant to listen on " .. port .. "? (Mail between servers uses port "
          .. "25; 587 and 465 are for clients that log in.)",
        evidence = ev,
      }
      return
    end
    if #controls == 0 and port == 25 then
      report:publish("outbound.verdict", "no_control")
      report:finding {
        code = "outbound.no_control",
        summary = string.format("Every MX address of the target %s on port %d; no control host is configured, so "
          .. "mxdiag cannot tell whose side blocks (%d of %d other-port probes answered)", what, port, #other_ok,
          #other_all),
        explanation = "A block of outbound port 25 on your side (your firewall, or an ISP that blocks port 25 for "
          .. "end users) looks exactly like a receiver that drops you, unless another mail host is tried on port 25 "
          .. "from here." .. (#other_ok > 0 and (" The same hosts answered on another port, so the path to them "
          .. "works; only port " .. port .. " fails.") or ""),
        advice = CONTROL_ADVICE,
        evidence = ev,
      }
      return
    end
    if #ctl_ok > 0 then
      report:publish("outbound.verdict", "remote_filtered")
      report:finding {
        code = "outbound.remote_filtered",
        summary = string.format("Only this target fails: every MX address %s on port %d while the control "
          .. "host %s accepts port 25", mode == "timeout" and "times out" or "refuses", port, ctl_ok_host),
        explanation = "Port 25 leaves this host (a control mail host accepted the connection), so outbound SMTP "
          .. "is not blocked as a whole: the block is aimed at this destination. Most often it is on the "
          .. "receiving side (their firewall, their provider, or a rule that drops or refuses your address); "
          .. "a rule for these addresses on this host or in this network (an output rule, a deny-list entry) "
          .. "looks the same from here. The path finding, when there is one, says how far the packets get.",
        advice = "A control mail host accepts port 25 from here, so the block is aimed at this destination, most "
          .. "likely on their side: contact the recipient domain's postmaster (through another channel) with the "
          .. "time and your sending address. First check that no rule on this host names these addresses "
          .. "(mxdiag local). Check your address's reputation (--sender-ip) and compare from another address "
          .. "(--source-ip A --source-ip B).",
        next_step = true,
        evidence = ev,
      }
    elseif #ctl_bad > 0 and #other_ok > 0 then
      report:publish("outbound.verdict", "port25_blocked")
      report:finding {
        code = "outbound.port25_blocked",
        summary = string.format("Outbound port 25 is blocked on your side: every MX and every control host fails on "
          .. "port 25 (%s), while other ports answer (%s)", mode, other_ok[1]),
        explanation = "Not one host accepts port 25 from here, including control hosts that accept everyone, "
          .. "yet the same hosts answer on other ports. Something between this host and the internet blocks "
          .. "outbound SMTP: this host's own firewall (output chain), the local network's firewall, or the ISP "
          .. "(residential and many cloud providers block port 25 by default).",
        advice = "No host accepts port 25 from here, control hosts included, so the block is on this side: "
          .. "check this host's output rules (nft list ruleset; iptables -S OUTPUT), then the network firewall. "
          .. "If neither blocks, ask the provider to open port 25 (cloud providers: a support request), or relay "
          .. "through a smarthost on port 587 with authentication.",
        next_step = true,
        evidence = ev,
      }
    else
      report:publish("outbound.verdict", "inconclusive")
      report:finding {
        code = "outbound.inconclusive",
        summary = string.format("Every MX address%s fails, and no other port answers: "
          .. "the network path itself may be down", #controls > 0 and " and every control host" or ""),
        explanation = "With nothing answering on any port, a port-25 block cannot be told apart from an outage "
          .. "or a wrong route.",
        advice = "Check basic connectivity and routing (ip route get " .. results[1].address .. "), then run again.",
        evidence = ev,
      }
    end
  end,
}

-- What each connect verdict means, who answered, and what to do next.
-- Shared by the tcp rule and site rules that probe on their own.
local shared = require("shared")
local M = {}
local mtype = math.type

-- "192.0.2.1:25", "[2001:db8::1]:25": an address and port as written in URLs
-- and mail logs (a bare IPv6 address and a port would run together). An
-- integer port's digits are shared.str's kept string (the same text as
-- tostring gives, without formatting it each time: issue 21).
function M.endpoint(address, port)
  local a = tostring(address)
  local ps = mtype(port) == "integer" and shared.str(port) or tostring(port)
  if a:find(":", 1, true) then return "[" .. a .. "]:" .. ps end
  return a .. ":" .. ps
end

local function who(p, d)
  if d.icmp and d.icmp.from then
    if d.icmp.from_destination then
      return string.format("the MX host %s itself", p.address)
    end
    return string.format("%s, a device on the path (not the MX host %s)", d.icmp.from, p.address)
  end
  return nil
end

-- opts (optional): {controls = n}, the number of --control hosts the check was given
function M.finding(p, d, timeout, opts)
  local src = p.source and (" from " .. p.source) or ""
  local target = M.endpoint(p.address, p.port)
  local ev = {
    host = p.host, preference = p.preference, address = p.address, port = p.port, source = d.source or p.source,
    elapsed_ms = d.elapsed_ms, errno = d.errno, error = d.error,
  }
  if d.icmp then
    ev.icmp_type, ev.icmp_code, ev.icmp_from, ev.icmp = d.icmp.type, d.icmp.code, d.icmp.from, d.icmp.text
  end
  local v = p.verdict
  if v == "connected" then
    return {
      code = "tcp.connected",
      summary = string.format("%s accepted a TCP connection%s in %d ms", target, src, d.elapsed_ms or 0),
      evidence = ev,
    }
  elseif v == "refused" then
    return {
      code = "tcp.refused",
      summary = string.format("%s refused the connection%s (TCP reset)", target, src),
      explanation = "The host answered the connection attempt with a TCP RST: the packets reach it, but nothing "
        .. "listens on port " .. p.port .. ", or a firewall on or in front of the host actively resets "
        .. "connections (some reset only connections from addresses they distrust). This is an active refusal, "
        .. "not a network outage.",
      advice = "If this is your server: start the MTA and make it listen on the public address (not only "
        .. "127.0.0.1). If it is theirs: the refusal may be aimed at your address; compare from another "
        .. "source address (--source-ip) and check your IP's reputation.",
      evidence = ev,
    }
  elseif v == "rejected" then
    local w = who(p, d) or "an unknown sender"
    return {
      code = "tcp.rejected",
      summary = string.format("%s rejected%s by a firewall: ICMP port-unreachable from %s", target, src,
        d.icmp and d.icmp.from or "?"),
      explanation = "The connection was refused with an ICMP port-unreachable message instead of a TCP reset. "
        .. "TCP stacks answer closed ports with a reset; ICMP port-unreachable for TCP is what a firewall's "
        .. "REJECT rule sends. It came from " .. w .. ". A plain 'Connection refused' in mail logs "
        .. "looks the same for both.",
      advice = (d.icmp and d.icmp.from and d.icmp.from_destination)
          and ("The MX host's own firewall rejects port " .. p.port .. " (an iptables/nft REJECT rule on "
            .. p.address .. "): if it is your server, allow the port in its input rules; if it is theirs, the rule "
            .. "may be aimed at your address, so compare from another source address (--source-ip) and tell their "
            .. "postmaster.")
        or (d.icmp and d.icmp.from)
          and (d.icmp.from .. ", a device on the path, rejects port " .. p.port .. " to " .. p.address
            .. ": whoever runs it (a router ACL or firewall) must allow SMTP; if it is in your network, fix its rule.")
        or ("A firewall rule blocks port " .. p.port .. " to this host: the MX host's own firewall or a device on "
          .. "the path (the ICMP's sender is unknown); ask whoever runs it to allow SMTP."),
      evidence = ev,
    }
  elseif v == "prohibited" then
    local w = who(p, d) or "an unknown sender"
    return {
      code = "tcp.prohibited",
      summary = string.format("%s: communication administratively prohibited%s (ICMP from %s)", target, src,
        d.icmp and d.icmp.from or "?"),
      explanation = "An ICMP 'administratively prohibited' message came back from " .. w .. ": a filter (router "
        .. "ACL or firewall reject rule) forbids this traffic on purpose.",
      advice = "Contact whoever runs " .. (d.icmp and d.icmp.from or "that device") .. ": a policy on that device "
        .. "blocks SMTP to " .. p.address .. (p.source and (" from " .. p.source) or "") .. ".",
      evidence = ev,
    }
  elseif v == "unreachable" then
    local summary, expl
    if d.icmp then
      summary = string.format("%s unreachable%s: %s from %s", target, src, d.icmp.text, d.icmp.from or "?")
      expl = "An ICMP unreachable message came back from " .. (who(p, d) or "an unknown sender") .. ": there is no "
        .. "route to the host, or the host is down (a router gives up after ARP fails)."
    else
      summary = string.format("%s unreachable%s: %s (no route from this host)", target, src, d.error or "?")
      expl = "This host's own routing table has no way to reach the address (no ICMP was received): the problem "
        .. "is local routing or a missing default route."
    end
    return {
      code = "tcp.unreachable",
      summary = summary,
      explanation = expl,
      advice = "Check the route to " .. p.address .. " (ip route get " .. p.address .. "; a TCP traceroute "
        .. "shows where it stops)."
        .. (p.other_family_ok and (" The same host answers over " .. p.other_family_ok .. ", so it is up: only "
          .. "this address family's route fails.") or " If the MX host is down, its owner must bring it back."),
      evidence = ev,
    }
  elseif v == "timeout" then
    return {
      code = "tcp.timeout",
      summary = string.format("%s did not answer%s within %s s (packets silently dropped)", target, src,
        tostring(timeout)),
      explanation = "Nothing came back: no reset, no ICMP. A firewall somewhere drops the packets silently: "
        .. "the recipient's firewall, a provider that blocks outbound port 25, or this host's own output "
        .. "firewall. A timeout is not a refusal; the host may be up.",
      advice = p.other_family_ok
        and ("The same host accepts port 25 over " .. p.other_family_ok .. " from here, so outbound port 25 is not "
          .. "blocked in general: the drop is specific to this address family, on the receiver's side (a firewall "
          .. "for it, often forgotten) or on the " .. (p.address:find(":", 1, true) and "IPv6" or "IPv4")
          .. " path (this host's firewall or provider for that family). See the tcp.family_fails finding.")
        or ((opts and (opts.controls or 0) > 0)
          -- the control hosts were given: the outbound rule has probed them, do not ask for them again
          and ("The --control hosts given answer whose side drops it: see the outbound.* finding (made when "
            .. "every MX address fails the same way) and the path.* finding.")
          or ("Tell whose side drops it with --control HOST (a mail host known to accept port 25): if port 25 "
            .. "fails there too, the block is on your side (local firewall or provider); if only this host fails, "
            .. "it is theirs.")),
      evidence = ev,
    }
  elseif v == "local" then
    return {
      code = "tcp.local",
      summary = string.format("This host would not send to %s%s: %s", target, src, d.error or "?"),
      explanation = "The connection never left this machine. EADDRNOTAVAIL means the source address is not "
        .. "assigned to this host; EPERM/EACCES mean a local firewall rule or policy refused the packet.",
      advice = "Use a source address this host has (ip -br addr), or check the local firewall's output rules.",
      evidence = ev,
    }
  end
  return {
    code = "tcp.error",
    summary = string.format("Connecting to %s%s failed: %s", target, src, d.error or tostring(v)),
    explanation = "An error mxdiag does not classify happened; the detail is in the evidence.",
    advice = "Run with --trace for the exact error.",
    evidence = ev,
  }
end

return M

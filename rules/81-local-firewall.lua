-- This host's own firewall and port 25, both ways: nftables, iptables,
-- UFW and CSF, each read through the `sys` primitives and parsed by
-- lib/fwparse.lua. Says which rule decides, and what could not be read.
local fw = require("fwparse")

local function say_failure(err, detail)
  local d = type(detail) == "table" and (detail.detail or detail.error) or tostring(detail or "")
  return err .. (d ~= "" and (": " .. d) or "")
end

-- Reads nft, iptables, ip6tables, UFW and CSF. Returns verdicts, sources
-- read, sources not read ({source, why}), extra info.
local function collect()
  local verdicts, read, unread, info = {}, {}, {}, {}
  info.port_rules = {}
  local function touching(list)
    for _, t in ipairs(list) do info.port_rules[#info.port_rules + 1] = t end
  end
  local function add(list)
    for _, v in ipairs(list) do verdicts[#verdicts + 1] = v end
  end
  local res = task.all {
    function() return table.pack(sys.run("nft_ruleset")) end,
    function() return table.pack(sys.run("iptables_save")) end,
    function() return table.pack(sys.run("ip6tables_save")) end,
    function() return table.pack(sys.read_file("/etc/ufw/ufw.conf")) end,
    function() return table.pack(sys.read_file("/etc/default/ufw")) end,
    function() return table.pack(sys.read_file("/etc/ufw/user.rules")) end,
    function() return table.pack(sys.read_file("/etc/ufw/user6.rules")) end,
    function() return table.pack(sys.read_file("/etc/csf/csf.conf")) end,
  }
  -- nft
  local r = res[1]
  if r[1] and r[1].status == 0 then
    local doc, err, msg = util.json_decode(r[1].stdout)
    if doc then
      add(fw.nft(doc))
      touching(fw.nft_port_rules(doc))
      read[#read + 1] = "nft"
    else
      unread[#unread + 1] = { source = "nft", why = "its JSON output could not be parsed: " .. tostring(msg or err) }
    end
  elseif r[1] then
    unread[#unread + 1] = { source = "nft", why = "nft -j list ruleset exited with status " .. r[1].status .. ": "
      .. (r[1].stderr or ""):sub(1, 200) }
  elseif r[2] == "missing" then
    info.nft_missing = true
  else
    unread[#unread + 1] = { source = "nft", why = say_failure(r[2], r[3]) }
  end
  -- iptables / ip6tables
  for i, name in ipairs { "iptables", "ip6tables" } do
    r = res[1 + i]
    if r[1] and r[1].status == 0 then
      add(fw.iptables(r[1].stdout, name))
      touching(fw.iptables_port_rules(r[1].stdout, name))
      read[#read + 1] = name
    elseif r[1] then
      unread[#unread + 1] = { source = name, why = name .. "-save exited with status " .. r[1].status .. ": "
        .. (r[1].stderr or ""):sub(1, 200) }
    elseif r[2] == "missing" then
      info[name .. "_missing"] = true
    else
      unread[#unread + 1] = { source = name, why = say_failure(r[2], r[3]) }
    end
  end
  -- UFW: active only when ufw.conf says ENABLED=yes
  local files = {}
  for i, key in ipairs { "ufw_conf", "default", "user_rules", "user6_rules" } do
    r = res[3 + i]
    if r[1] then files[key] = r[1]
    elseif r[2] ~= "missing" then
      unread[#unread + 1] = { source = "ufw", why = "cannot read " .. ({ "/etc/ufw/ufw.conf", "/etc/default/ufw",
        "/etc/ufw/user.rules", "/etc/ufw/user6.rules" })[i] .. ": " .. say_failure(r[2], r[3]) }
    end
  end
  if files.ufw_conf or files.default then
    local v, enabled = fw.ufw(files)
    info.ufw_enabled = enabled
    if enabled ~= false then
      add(v)
      read[#read + 1] = "ufw"
    end
  end
  -- CSF
  r = res[8]
  if r[1] then
    local v, ci = fw.csf(r[1])
    add(v)
    info.csf = ci
    read[#read + 1] = "csf"
  elseif r[2] ~= "missing" then
    unread[#unread + 1] = { source = "csf", why = "cannot read /etc/csf/csf.conf: " .. say_failure(r[2], r[3]) }
  end
  return verdicts, read, unread, info
end

local function listens_publicly()
  local list = sys.listeners { 25, 465, 587 } -- same question as local-mta: answered once
  for _, l in ipairs(list or {}) do
    if not (l.address:match("^127%.") or l.address == "::1" or l.address:match("^::ffff:127%.")) then return true end
  end
  return false
end

return {
  id = "local-firewall",
  description = "Reads this host's firewall (nftables, iptables, UFW, CSF) for rules on TCP port 25 in and out",
  categories = { "local" },
  provides = { "local.firewall" },
  codes = {
    ["local.firewall_blocks_out25"] = "crit", ["local.firewall_blocks_in25"] = "warn",
    ["local.csf_smtp_block"] = "warn", ["local.firewall_ok"] = "ok", ["local.firewall_unknown"] = "unknown",
    ["local.firewall_rules"] = "info",
  },
  applies = function(target) return target.options["local"] == true end,
  run = function(target, report)
    local verdicts, read, unread, info = collect()
    local blocks_out, blocks_in = {}, {}
    for _, v in ipairs(verdicts) do
      if v.action == "block" then
        if v.dir == "out" then blocks_out[#blocks_out + 1] = v else blocks_in[#blocks_in + 1] = v end
      end
    end
    local public = listens_publicly()
    -- every rule that names port 25, not only the ones that decide (first match wins)
    local pr = info.port_rules
    if #pr > 0 then
      local lines = {}
      for i, t in ipairs(pr) do
        lines[i] = string.format("%s: %s", t.where, t.rule)
      end
      report:finding {
        code = "local.firewall_rules",
        summary = string.format("%d firewall rule%s name%s TCP port 25: %s", #pr, #pr == 1 and "" or "s",
          #pr == 1 and "s" or "", table.concat(lines, "; ")),
        explanation = "Every rule of the rule sets read that matches TCP port 25 (whatever it does: accept, "
          .. "log, drop, jump), chain by chain as the rule set lists them. In each chain the first rule that matches a new connection decides"
          .. ((#blocks_out + #blocks_in) > 0 and "; the findings above name the rules that decide." or "."),
        evidence = { rules = lines, count = #pr },
      }
    end
    for _, v in ipairs(blocks_out) do
      local how = v.policy and "its default policy drops what no rule allows" or
        (v.catch_all and "a catch-all rule drops it" or "a rule drops or rejects it")
      report:finding {
        code = "local.firewall_blocks_out25",
        severity = v.partial and "warn" or nil,
        -- partial: the rule has conditions besides port 25 (addresses, a set or map entry not read):
        -- it stops the connections they match, which may be some destinations or none
        summary = v.partial
          and string.format("This host's %s firewall may block outgoing SMTP (TCP port 25): a rule drops or rejects "
            .. "it when its other conditions also match (%s): %s — %s", v.source, v.partial, v.where, v.rule)
          or string.format("This host's %s firewall blocks outgoing SMTP (TCP port 25): %s — %s",
            v.source, v.where, v.rule),
        explanation = (v.partial
          and ("Connections from this host to port 25 that also match " .. v.partial .. " never leave the "
            .. "machine; mxdiag cannot tell which destinations that covers, so some, all or none of them may be "
            .. "blocked. Mail to a blocked destination stays in the queue and is eventually bounced; the logs show ")
          or ("Connections from this host to other mail servers on port 25 never leave the machine: "
            .. how .. ". Mail stays in the queue and is eventually bounced; the logs show "))
          .. "'Connection timed out' (drop) or 'Connection refused', 'No route to host' or 'Network is "
          .. "unreachable' (reject, depending on its type)" .. (v.partial and " for those destinations." or " for every destination.")
          .. (v.source == "csf" and " In CSF, TCP_OUT lists the ports this host may connect to; 25 is not among them." or ""),
        advice = v.source == "csf" and ("Add 25 to " .. (v.key or "TCP_OUT") .. " in /etc/csf/csf.conf and run csf -r.")
          or v.source == "ufw" and (v.policy and "Allow SMTP out: ufw allow out 25/tcp (the default outgoing policy denies it)."
            or "Remove or reorder the rule: ufw status numbered; ufw delete N; ufw allow out 25/tcp.")
          or ("Remove or narrow the rule (" .. v.where .. "), or add an accept rule for tcp dport 25 before it."),
        evidence = { source = v.source, where = v.where, rule = v.rule, line = v.line, direction = "out", port = 25,
                     partial = v.partial, policy = v.policy },
      }
    end
    for _, v in ipairs(blocks_in) do
      report:finding {
        code = "local.firewall_blocks_in25",
        severity = (public and not v.partial) and "warn" or "info",
        summary = string.format("This host's %s firewall blocks incoming SMTP (TCP port 25)%s: %s — %s",
          v.source, v.partial and (" for some traffic (" .. v.partial .. ")") or "", v.where, v.rule),
        explanation = "Other mail servers cannot connect to this host on port 25"
          .. (public and ", although an MTA listens there: mail to domains whose MX is this host cannot arrive."
            or ". That is right for a host that only sends mail; it is wrong for an MX."),
        advice = v.source == "csf" and "Add 25 to TCP_IN in /etc/csf/csf.conf and run csf -r (only if this host receives mail)."
          or v.source == "ufw" and "ufw allow 25/tcp (only if this host receives mail)."
          or ("If this host receives mail, accept tcp dport 25 before " .. v.where .. "."),
        evidence = { source = v.source, where = v.where, rule = v.rule, line = v.line, direction = "in", port = 25,
                     partial = v.partial, policy = v.policy },
      }
    end
    local sb = info.csf and info.csf.smtp_block
    if sb then
      report:finding {
        code = "local.csf_smtp_block",
        severity = sb.covers and "warn" or "info",
        summary = string.format("CSF's SMTP_BLOCK is on (/etc/csf/csf.conf line %d): only %s may connect out to ports %s",
          sb.line, "root and the users/groups in SMTP_ALLOWUSER/SMTP_ALLOWGROUP", sb.ports),
        explanation = "With SMTP_BLOCK = \"1\", CSF rejects outgoing connections to the SMTP ports from every local "
          .. "user except root and the listed users and groups. It is meant to stop scripts from sending spam "
          .. "directly; it also stops any MTA that runs as a user not in the list (Postfix's smtp client runs as "
          .. "'postfix'). Allowed users: '" .. sb.allow_user .. "', groups: '" .. sb.allow_group .. "'"
          .. (sb.allow_local == "1" and "; connections to this host's own addresses are allowed (SMTP_ALLOWLOCAL)." or "."),
        advice = "Add the MTA's user to SMTP_ALLOWUSER (e.g. \"postfix\" or \"exim\"), or set SMTP_BLOCK = \"0\"; "
          .. "then run csf -r.",
        evidence = { source = "csf", where = string.format("/etc/csf/csf.conf line %d", sb.line), line = sb.line,
                     smtp_ports = sb.ports, smtp_allowuser = sb.allow_user, smtp_allowgroup = sb.allow_group },
      }
    end
    local ev_unread = {}
    for _, u in ipairs(unread) do ev_unread[#ev_unread + 1] = u.source .. ": " .. u.why end
    if #unread > 0 or #read == 0 then
      local missing = {}
      if info.nft_missing then missing[#missing + 1] = "nft" end
      if info.iptables_missing then missing[#missing + 1] = "iptables-save" end
      if info.ip6tables_missing then missing[#missing + 1] = "ip6tables-save" end
      local filter_read = false
      for _, s in ipairs(read) do if s == "nft" or s == "iptables" or s == "ip6tables" then filter_read = true end end
      report:finding {
        code = "local.firewall_unknown",
        severity = filter_read and "info" or "unknown",
        summary = #unread > 0
          and ("Could not read part of the local firewall: " .. table.concat(ev_unread, "; "))
          or ("No firewall tool to read the kernel's rules with (not installed: " .. table.concat(missing, ", ") .. ")"),
        explanation = "What was not read cannot be checked: a rule there may still block port 25. "
          .. "Reading nftables and iptables rules needs root (CAP_NET_ADMIN)."
          .. (#read > 0 and (" Read: " .. table.concat(read, ", ") .. ".") or " Nothing could be read."),
        advice = "Run mxdiag local as root (sudo mxdiag local) to read every rule set.",
        evidence = { unread = ev_unread, read = read, not_installed = missing },
      }
    end
    if #blocks_out == 0 and #read > 0 and not (sb and sb.covers) then
      local unread_names = {}
      for _, u in ipairs(unread) do unread_names[#unread_names + 1] = u.source end
      report:finding {
        code = "local.firewall_ok",
        -- only what was read: a rule set that could not be read (not root) is named, not vouched for
        summary = "No local firewall rule that was read blocks outgoing SMTP (port 25)" .. " (read: "
          .. table.concat(read, ", ") .. (#unread > 0 and ("; not read: " .. table.concat(unread_names, ", ")) or "")
          .. ")"
          .. (#blocks_in > 0 and "; incoming port 25 is blocked, see above" or ""),
        evidence = { read = read, ufw_enabled = info.ufw_enabled },
      }
    end
    report:publish("local.firewall", { read = read, unread = ev_unread, blocks_out = blocks_out, blocks_in = blocks_in })
  end,
}

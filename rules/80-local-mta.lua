-- This host as a mail server: who listens on the SMTP ports, on which
-- addresses, and what Postfix's and Exim's settings mean for it.
local PORTS = { 25, 465, 587 }

local function is_loopback(a)
  return a:match("^127%.") ~= nil or a == "::1" or a:match("^::ffff:127%.") ~= nil
end

local function is_wildcard(a) return a == "0.0.0.0" or a == "::" end

-- "name = value" lines (postconf, exim -bP) -> {name = {value=, line=}}
local function settings(text)
  local out, ln = {}, 0
  local last
  for line in (text or ""):gmatch("([^\n]*)\n?") do
    ln = ln + 1
    if line:match("^%s+%S") and last and not line:match("^%s*#") then
      -- main.cf continuation line
      out[last].value = out[last].value .. " " .. line:match("^%s*(.-)%s*$")
    else
      local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if k and not line:match("^%s*#") then out[k] = { value = v, line = ln }; last = k else last = nil end
    end
  end
  return out
end

local mta_names = {
  master = "Postfix", smtpd = "Postfix", exim4 = "Exim", exim = "Exim", sendmail = "Sendmail",
  ["sendmail-mta"] = "Sendmail", smtpd_ = "OpenSMTPD", opensmtpd = "OpenSMTPD", ["haraka"] = "Haraka",
}

local function label(l)
  local a = l.family == 6 and ("[" .. l.address .. "]") or l.address
  return string.format("%s:%d%s", a, l.port, l.process and string.format(" (%s, pid %d)", l.process, l.pid) or "")
end

local function postfix_config()
  local src, vals, where = nil, nil, nil
  local r, err, detail = sys.run("postconf_settings")
  if r and r.status == 0 then
    vals, src = settings(r.stdout), "postconf"
  else
    local text = sys.read_file("/etc/postfix/main.cf")
    if text then
      vals, src = settings(text), "/etc/postfix/main.cf"
      where = "/etc/postfix/main.cf"
    end
  end
  if not vals then
    return nil, (r and ("postconf exited with status " .. r.status .. ": " .. (r.stderr or "")))
      or (err .. (detail and detail.detail and (": " .. detail.detail) or ""))
  end
  local master
  local m = sys.run("postconf_M")
  if m and m.status == 0 then master = m.stdout
  else master = sys.read_file("/etc/postfix/master.cf") end
  return { values = vals, source = src, file = where, master = master }
end

local function exim_config()
  local r, err, detail = sys.run("exim_settings")
  if r and r.status == 0 then return { values = settings(r.stdout), source = "exim -bP" } end
  -- Debian's debconf-driven configuration
  local text = sys.read_file("/etc/exim4/update-exim4.conf.conf")
  if text then
    local v = settings(text)
    local li = v.dc_local_interfaces
    local out = { values = {}, source = "/etc/exim4/update-exim4.conf.conf" }
    if li then
      out.values.local_interfaces = { value = li.value:gsub("^'(.*)'$", "%1"), line = li.line }
    end
    return out
  end
  return nil, err and (err .. (detail and detail.detail and (": " .. detail.detail) or "")) or nil
end

-- Does a Postfix inet_interfaces value mean loopback only?
local function pf_loopback_only(v)
  v = v:lower()
  if v == "loopback-only" or v == "localhost" then return true end
  for item in v:gmatch("[^,%s]+") do
    if item ~= "127.0.0.1" and item ~= "[::1]" and item ~= "::1" and item ~= "localhost" then return false end
  end
  return true
end

local function exim_loopback_only(v)
  v = v:gsub("^<%s*(%S)", "%1", 1)
  local sep = v:match("^(%p)%s") or ":"
  if v:match("^<;") then sep = ";"; v = v:sub(3) end
  local any = false
  for item in v:gmatch("[^" .. sep:gsub("%p", "%%%0") .. "]+") do
    item = item:match("^%s*(.-)%s*$")
    -- a port after the address: "[127.0.0.1]:2525", or Exim's dot form "127.0.0.1.2525" / "::1.2525"
    -- (only a fifth IPv4 component is a port: "127.0.0.1" itself keeps its last octet)
    item = item:match("^%[(.-)%]:%d+$") or item:match("^%[(.-)%]$") or item
    if item:find(":", 1, true) or select(2, item:gsub("%.", "")) == 4 then item = item:gsub("%.%d+$", "") end
    if item ~= "" then
      any = true
      if item ~= "127.0.0.1" and item ~= "::1" and item ~= "::0:1" then return false end
    end
  end
  return any
end

local function has_address(addrs, a)
  for _, x in ipairs(addrs or {}) do if x.address == a then return true end end
  return false
end

return {
  id = "local-mta",
  description = "Finds the local MTA: listeners on ports 25/465/587 and the Postfix/Exim settings behind them",
  categories = { "local" },
  provides = { "local.mta" },
  codes = {
    ["local.mta_listening"] = "ok", ["local.mta_not_running"] = "warn", ["local.mta_loopback_only"] = "warn",
    ["local.postfix_setting"] = "info", ["local.exim_setting"] = "info",
  },
  applies = function(target) return target.options["local"] == true end,
  run = function(target, report)
    local list, meta = sys.listeners(PORTS)
    local me = sys.info()
    local fact = { listeners = list or {}, notes = meta and meta.notes or {} }
    if not list then
      report:finding {
        code = "local.mta_not_running", severity = "unknown",
        summary = "Could not list this host's listening sockets: " .. tostring(meta),
        explanation = "Without /proc/net/tcp nothing can be said about the local MTA.",
        advice = "Run mxdiag local on the mail server itself, with /proc mounted.",
        evidence = {},
      }
      report:publish("local.mta", fact)
      return
    end
    local on25, public25 = {}, {}
    local ev_list = {}
    for _, l in ipairs(list) do
      ev_list[#ev_list + 1] = label(l)
      if l.port == 25 then
        on25[#on25 + 1] = l
        if not is_loopback(l.address) then public25[#public25 + 1] = l end
      end
    end
    local notes = meta.notes or {}
    local owner_note = meta.unreadable_pids > 0
      and " (owning processes unknown: not root, /proc/PID/fd of other users is unreadable)" or ""
    local mta
    for _, l in ipairs(on25) do
      if l.process then mta = mta or mta_names[l.process] or l.process end
    end
    fact.mta = mta

    local pf, pf_err = postfix_config()
    local ex, ex_err = exim_config()
    fact.postfix = pf and {} or nil
    if pf then for k, v in pairs(pf.values) do fact.postfix[k] = v.value end end

    if #on25 == 0 then
      local why = ""
      if pf and pf.master and not pf.master:match("\n%s*smtp%s+inet%s") and not pf.master:match("^smtp%s+inet%s") then
        why = " Postfix is configured, but master.cf has no 'smtp inet' service, so its smtpd never listens on port 25."
      elseif pf then
        why = " Postfix is configured on this host but its master process is not listening: is it running "
          .. "(systemctl status postfix; postfix status)?"
      elseif ex then
        why = " Exim is configured on this host but not listening: is it running (systemctl status exim4)?"
      end
      local other = {}
      for _, l in ipairs(list) do if l.port ~= 25 then other[#other + 1] = label(l) end end
      report:finding {
        code = "local.mta_not_running",
        summary = "Nothing listens on TCP port 25 on this host" .. (#other > 0 and (" (but on " .. table.concat(other, ", ") .. ")") or ""),
        explanation = "No process accepts SMTP connections on port 25, so other servers cannot deliver mail to "
          .. "this host (they see 'Connection refused'). A host that only sends mail does not need a listener." .. why,
        advice = "Start the MTA (systemctl start postfix, or exim4) and check that it stays up (journalctl -u postfix). "
          .. "Compare with: ss -ltnp 'sport = :25'.",
        evidence = { listeners = ev_list, notes = notes, port = 25 },
      }
    elseif #public25 == 0 then
      local cause, which = "", mta
      if pf and pf.values.inet_interfaces and pf_loopback_only(pf.values.inet_interfaces.value) then
        cause = string.format(" Postfix's inet_interfaces = %s (%s) is why.", pf.values.inet_interfaces.value, pf.source)
        which = "Postfix"
      elseif ex and ex.values.local_interfaces and exim_loopback_only(ex.values.local_interfaces.value) then
        cause = string.format(" Exim's local_interfaces = %s (%s) is why.", ex.values.local_interfaces.value, ex.source)
        which = "Exim"
      end
      -- the fix for the MTA that listens (its process, or the setting found), the other's only when unknown:
      -- the verdict line quotes the first sentence, which must not tell an Exim host to run postconf
      local fix_pf = "Postfix: postconf -e inet_interfaces=all && systemctl restart postfix."
      local fix_ex = "Exim (Debian): set dc_local_interfaces='' in /etc/exim4/update-exim4.conf.conf, then "
        .. "update-exim4.conf && systemctl restart exim4."
      local advice = which == "Postfix" and fix_pf or which == "Exim" and fix_ex
        or (which and ("Make " .. which .. " listen on the public address (or all addresses), then restart it."))
        or (fix_pf .. " " .. fix_ex)
      local l25 = {}
      for _, l in ipairs(on25) do l25[#l25 + 1] = label(l) end
      report:finding {
        code = "local.mta_loopback_only",
        summary = "The MTA listens on port 25 on loopback only: " .. table.concat(l25, ", ") .. owner_note,
        explanation = "A listener on 127.0.0.1 or ::1 accepts connections from this host only. Other servers "
          .. "connecting to this host's public address get 'Connection refused'. Debian installs Postfix this way "
          .. "for 'local only' and Exim with local_interfaces = 127.0.0.1 ; ::1 unless told otherwise." .. cause,
        advice = advice,
        evidence = { listeners = l25, notes = notes, port = 25, mta = mta },
      }
    else
      local l25 = {}
      for _, l in ipairs(on25) do l25[#l25 + 1] = label(l) end
      report:finding {
        code = "local.mta_listening",
        summary = string.format("%s listens on port 25: %s%s", mta or "An MTA", table.concat(l25, ", "), owner_note),
        evidence = { listeners = ev_list, notes = notes, port = 25, mta = mta },
      }
    end

    -- Postfix settings that decide what the verdicts above mean
    if pf then
      local v = pf.values
      local function where(name)
        local e = v[name]
        return pf.file and string.format("%s line %d", pf.file, e.line) or "postconf"
      end
      if v.inet_interfaces and pf_loopback_only(v.inet_interfaces.value) then
        report:finding {
          code = "local.postfix_setting", severity = "warn",
          summary = string.format("Postfix: inet_interfaces = %s — it accepts mail from this host only", v.inet_interfaces.value),
          explanation = "inet_interfaces lists the addresses Postfix's smtpd listens on. 'loopback-only' (Debian's "
            .. "'local only' choice) means no other server can deliver to this host.",
          advice = "If this host should receive mail: postconf -e inet_interfaces=all; systemctl restart postfix "
            .. "(a restart, not a reload, is needed for this setting).",
          evidence = { setting = "inet_interfaces", value = v.inet_interfaces.value, source = where("inet_interfaces") },
        }
      end
      for _, name in ipairs { "smtp_bind_address", "smtp_bind_address6" } do
        local e = v[name]
        if e and e.value ~= "" then
          local a = e.value:gsub("^%[", ""):gsub("%]$", "")
          if not has_address(me.addresses, a) then
            report:finding {
              code = "local.postfix_setting", severity = "crit",
              summary = string.format("Postfix: %s = %s, an address this host does not have", name, e.value),
              explanation = "Postfix binds every outgoing SMTP connection to this source address. The kernel refuses "
                .. "a bind to an address that is not on an interface (EADDRNOTAVAIL), so every delivery is "
                .. "deferred with 'smtp_connect_addr: bind " .. a .. ": Cannot assign requested address'.",
              advice = "Set " .. name .. " to one of this host's addresses (ip -br addr) or empty it: postconf -e "
                .. name .. "=; postfix reload.",
              evidence = { setting = name, value = e.value, source = where(name), host_addresses = #me.addresses },
            }
          end
        end
      end
      if v.inet_protocols then
        report:finding {
          code = "local.postfix_setting",
          summary = string.format("Postfix: inet_protocols = %s (%s)", v.inet_protocols.value,
            ({ ipv4 = "IPv4 only: no delivery to IPv6-only MX hosts, no IPv6 listener",
               ipv6 = "IPv6 only: no delivery to IPv4-only MX hosts",
               all = "IPv4 and IPv6" })[v.inet_protocols.value:lower()] or "see postconf(5)"),
          explanation = "inet_protocols decides which address families Postfix uses to send and receive. "
            .. "With --local and a target, mxdiag compares it with the target's MX addresses.",
          evidence = { setting = "inet_protocols", value = v.inet_protocols.value, source = where("inet_protocols") },
        }
      end
    elseif pf_err and not pf_err:match("^missing") then
      fact.postfix_error = pf_err
    end
    if ex then
      local li = ex.values.local_interfaces
      if li and exim_loopback_only(li.value) then
        report:finding {
          code = "local.exim_setting", severity = "warn",
          summary = string.format("Exim: local_interfaces = %s — it accepts mail from this host only", li.value),
          explanation = "local_interfaces lists the addresses Exim listens on. Debian's default for a host "
            .. "configured for 'local delivery only' or as a smarthost client is 127.0.0.1 ; ::1.",
          advice = "Debian: dpkg-reconfigure exim4-config (listen on all addresses), or set dc_local_interfaces='' "
            .. "in /etc/exim4/update-exim4.conf.conf, run update-exim4.conf and restart exim4.",
          evidence = { setting = "local_interfaces", value = li.value, source = ex.source },
        }
      end
      local dp = ex.values.daemon_smtp_ports
      if dp and not (" " .. dp.value .. " "):match("[%s:]25[%s:]") and not dp.value:match("smtp") then
        report:finding {
          code = "local.exim_setting", severity = "warn",
          summary = string.format("Exim: daemon_smtp_ports = %s — port 25 is not among them", dp.value),
          explanation = "Exim listens only on the ports in daemon_smtp_ports; other servers deliver to port 25.",
          advice = "Include 25 (smtp) in daemon_smtp_ports.",
          evidence = { setting = "daemon_smtp_ports", value = dp.value, source = ex.source },
        }
      end
    end
    fact.exim = ex and {} or nil
    if ex then for k, v in pairs(ex.values) do fact.exim[k] = v.value end end
    fact.postfix_unavailable = pf and nil or pf_err
    fact.exim_unavailable = ex and nil or ex_err
    report:publish("local.mta", fact)
  end,
}

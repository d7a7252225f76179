-- Local firewall parsers: what each front-end says about TCP port 25, in
-- both directions. Pure functions over text (or decoded nft JSON), so site
-- rules and tests can call them on their own data.
--
-- Every analyser returns a list of verdicts:
--   { dir = "out"|"in", action = "block"|"allow", source = "nft"|"iptables"|"ip6tables"|"ufw"|"csf",
--     where = "table inet filter chain output rule 3 (handle 7)" | "line 12" ...,
--     rule = "tcp dport 25 drop", line = n?, partial = "only to 192.0.2.0/24"?, policy = true? }
-- Only the first decision per direction and chain/hook is kept (first match wins).
local M = {}

local PORT = 25

-- ------------------------------------------------------------ port sets

local services = { smtp = 25, submission = 587, submissions = 465, smtps = 465, urd = 465 }

-- Does a port spec ("25", "20:30", "25,465", "smtp", "any") contain port?
function M.port_in(spec, port)
  port = port or PORT
  if spec == nil or spec == "any" or spec == "" then return true end
  for part in tostring(spec):gmatch("[^,%s]+") do
    local a, b = part:match("^(%d+)[:%-](%d+)$")
    if a then
      if port >= tonumber(a) and port <= tonumber(b) then return true end
    elseif tonumber(part) == port or services[part] == port then
      return true
    end
  end
  return false
end

-- ------------------------------------------------------------ nftables JSON

-- true / false, or nil when it cannot be told: a named set (@name) that the
-- ruleset does not define, or an element of a kind not understood.
local nft_port_matches

-- Does any element of a set match? true, false, or nil (some element not understood).
local function any_element_matches(elems, port, sets)
  local unknown = false
  for _, v in ipairs(elems) do
    -- an element with options (timeout, counter) is {elem = {val = ...}}
    if type(v) == "table" and type(v.elem) == "table" then v = v.elem.val end
    local hit = nft_port_matches(v, port, sets)
    if hit then return true end
    if hit == nil then unknown = true end
  end
  if unknown then return nil end
  return false
end

nft_port_matches = function(right, port, sets)
  local t = type(right)
  if t == "number" then return right == port end
  if t == "string" then
    if right:sub(1, 1) == "@" then
      local named = sets and sets[right:sub(2)]
      if not named then return nil end
      return any_element_matches(named.elem or {}, port, sets)
    end
    return M.port_in(right, port)
  end
  if t == "table" then
    if right.set then return any_element_matches(right.set, port, sets) end
    if right.range then return port >= right.range[1] and port <= right.range[2] end
    if #right > 0 then return any_element_matches(right, port, sets) end
    return nil
  end
  return false
end

local function render_right(r)
  if type(r) ~= "table" then return tostring(r) end
  if r.set then
    local p = {}
    for _, v in ipairs(r.set) do p[#p + 1] = render_right(v) end
    return "{ " .. table.concat(p, ", ") .. " }"
  end
  if r.range then return tostring(r.range[1]) .. "-" .. tostring(r.range[2]) end
  if r.prefix then return tostring(r.prefix.addr) .. "/" .. tostring(r.prefix.len) end
  if #r > 0 then
    local p = {}
    for _, v in ipairs(r) do p[#p + 1] = render_right(v) end
    return table.concat(p, ",")
  end
  return "?"
end

local function render_left(l)
  if type(l) ~= "table" then return tostring(l) end
  if l.payload then return (l.payload.protocol or "?") .. " " .. (l.payload.field or "?") end
  if l.meta then return "meta " .. tostring(l.meta.key) end
  if l.ct then return "ct " .. tostring(l.ct.key) end
  return "?"
end

-- Renders the rule's expressions roughly as `nft list` would.
local function render_nft(expr)
  local parts = {}
  for _, e in ipairs(expr or {}) do
    if e.match then
      local op = e.match.op
      parts[#parts + 1] = render_left(e.match.left) .. ((op and op ~= "==" and op ~= "in") and (" " .. op .. " ") or " ")
        .. render_right(e.match.right)
    elseif e.drop then parts[#parts + 1] = "drop"
    elseif e.accept then parts[#parts + 1] = "accept"
    elseif e.reject then
      local r = "reject"
      if type(e.reject) == "table" and e.reject.expr then r = r .. " with " .. tostring(e.reject.type or "icmp") .. " " .. tostring(e.reject.expr) end
      parts[#parts + 1] = r
    elseif e.vmap and type(e.vmap) == "table" then
      local d = e.vmap.data
      local txt = type(d) == "string" and d or "{ ? }"
      if type(d) == "table" and type(d.set) == "table" then
        local p = {}
        for _, kv in ipairs(d.set) do
          if type(kv) == "table" then
            local v = type(kv[2]) == "table" and (next(kv[2])) or "?"
            local tgt = type(kv[2]) == "table" and type(kv[2][v]) == "table" and kv[2][v].target
            p[#p + 1] = render_right(kv[1]) .. " : " .. tostring(v) .. (tgt and (" " .. tostring(tgt)) or "")
          end
        end
        txt = "{ " .. table.concat(p, ", ") .. " }"
      end
      parts[#parts + 1] = render_left(e.vmap.key) .. " vmap " .. txt
    elseif e.counter then parts[#parts + 1] = "counter"
    elseif e.jump then parts[#parts + 1] = "jump " .. tostring(e.jump.target)
    elseif e["goto"] then parts[#parts + 1] = "goto " .. tostring(e["goto"].target)
    elseif e["return"] then parts[#parts + 1] = "return"
    elseif e.log then parts[#parts + 1] = "log"
    else
      local k = next(e)
      parts[#parts + 1] = tostring(k)
    end
  end
  return table.concat(parts, " ")
end

-- Classifies one rule for new TCP connections to `port` (dport).
-- Returns verdict ("accept"|"drop"|"reject"|"jump"|nil), matches_port
-- (true: names the port; false: says nothing of ports), other (list of other
-- conditions that narrow it), never (true: cannot match such packets).
local function classify_nft(expr, port, sets)
  local verdict, jump
  local names_port, other, never = false, {}, false
  for _, e in ipairs(expr or {}) do
    if e.match then
      local l, r, op = e.match.left, e.match.right, e.match.op or "=="
      local neg = op == "!="
      if type(l) == "table" and l.payload and l.payload.field == "dport" and (l.payload.protocol == "tcp" or l.payload.protocol == "th") then
        local hit = nft_port_matches(r, port, sets)
        if hit == nil then
          -- cannot tell whether the port is in it: the rule may apply, as a narrowed (partial) one
          names_port = true
          other[#other + 1] = render_left(l) .. " " .. (neg and "!= " or "") .. render_right(r)
            .. ((type(r) == "string" and r:sub(1, 1) == "@" and not (sets and sets[r:sub(2)]))
                and " (a named set not in the ruleset read)" or " (elements not understood)")
        else
          if neg then hit = not hit end
          if not hit then never = true else names_port = true end
        end
      elseif type(l) == "table" and l.payload and l.payload.field == "dport" then
        never = true -- udp/sctp dport
      elseif type(l) == "table" and l.payload and l.payload.field == "sport" then
        other[#other + 1] = render_left(l) .. " " .. render_right(r)
      elseif type(l) == "table" and l.meta and (l.meta.key == "l4proto" or l.meta.key == "nfproto" or l.meta.key == "protocol") then
        local v = render_right(r)
        if l.meta.key == "l4proto" and not neg and not v:find("tcp") and not v:find("6") then never = true end
      elseif type(l) == "table" and l.payload and l.payload.field == "protocol" then
        local v = render_right(r)
        if not neg and not v:find("tcp") then never = true end
      elseif type(l) == "table" and l.ct and l.ct.key == "state" then
        -- a new connection is "new": rules for established/related only never match it
        local v = render_right(r)
        if neg then
          if v:find("new") then never = true end
        elseif not v:find("new") then never = true end
      elseif type(l) == "table" and l.meta and (l.meta.key == "oifname" or l.meta.key == "iifname" or l.meta.key == "oif" or l.meta.key == "iif") then
        local v = render_right(r)
        if v == "lo" and not neg then never = true -- loopback-only rule
        else other[#other + 1] = render_left(l) .. " " .. (neg and "!= " or "") .. v end
      else
        other[#other + 1] = render_left(l) .. " " .. (neg and "!= " or "") .. render_right(r)
      end
    elseif e.vmap and type(e.vmap) == "table" then
      -- a verdict map: "tcp dport vmap { 25 : drop, 80 : accept }" or "vmap @name"
      local key, data = e.vmap.key, e.vmap.data
      local entries
      if type(data) == "string" and data:sub(1, 1) == "@" then
        local m = sets and sets[data:sub(2)]
        entries = m and m.elem
      elseif type(data) == "table" and type(data.set) == "table" then
        entries = data.set
      end
      local function verdict_of(v)
        if type(v) ~= "table" then return nil end
        if v.drop then return "drop" elseif v.reject then return "reject" elseif v.accept then return "accept" end
        if v.jump or v["goto"] then return "jump", (v.jump or v["goto"]).target end
        if v["return"] then return "return" end
      end
      local on_dport = type(key) == "table" and key.payload and key.payload.field == "dport"
        and (key.payload.protocol == "tcp" or key.payload.protocol == "th")
      if not entries then
        -- cannot tell what it maps to: a possible block
        verdict = "drop"
        names_port = on_dport or names_port
        other[#other + 1] = render_left(key) .. " vmap " .. render_right(data) .. " (a map not in the ruleset read)"
      elseif on_dport then
        local found, unclear = false, false
        for _, kv in ipairs(entries) do
          if type(kv) == "table" then
            local k, v = kv[1], kv[2]
            if type(k) == "table" and type(k.elem) == "table" then k = k.elem.val end
            local hit = nft_port_matches(k, port, sets)
            if hit then
              verdict, jump = verdict_of(v)
              found = true
              break
            end
            local vd = verdict_of(v)
            if hit == nil and (vd == "drop" or vd == "reject") then unclear = true end
          end
        end
        if found then
          names_port = true
        elseif unclear then
          -- a blocking entry whose key is not understood: a possible block, not a skip
          verdict, names_port = "drop", true
          other[#other + 1] = render_left(key) .. " vmap (an entry whose key is not understood)"
        else
          never = true
        end
      else
        -- keyed on something else (an address...): a block only where that key matches
        local blocks = false
        for _, kv in ipairs(entries) do
          local vd = type(kv) == "table" and verdict_of(kv[2])
          if vd == "drop" or vd == "reject" then blocks = true end
        end
        if blocks then
          verdict = "drop"
          other[#other + 1] = render_left(key) .. " vmap (only for some values of " .. render_left(key) .. ")"
        else
          never = true
        end
      end
    elseif e.accept then verdict = "accept"
    elseif e.drop then verdict = "drop"
    elseif e.reject then verdict = "reject"
    elseif e.jump or e["goto"] then verdict = "jump"; jump = (e.jump or e["goto"]).target
    elseif e["return"] then verdict = "return"
    elseif e.xt then other[#other + 1] = "xt " .. tostring(e.xt.name or "match")
    end
  end
  return verdict, names_port, other, never, jump
end

-- Walks one chain (and chains it jumps to) for a new connection to port.
-- Returns a decision {action, where, rule, partial} or nil (fell through).
local function walk_nft(chains, key, port, depth, seen, sets)
  local ch = chains[key]
  if not ch or depth > 8 or seen[key] then return nil end
  seen[key] = true
  local tsets = sets[ch.family .. " " .. ch.table]
  for i, r in ipairs(ch.rules) do
    local verdict, names_port, other, never, jump = classify_nft(r.expr, port, tsets)
    if not never and verdict then
      local where = string.format("table %s %s chain %s rule %d (handle %s)", ch.family, ch.table, ch.name, i,
        tostring(r.handle))
      if verdict == "jump" then
        local d = walk_nft(chains, ch.family .. " " .. ch.table .. " " .. tostring(jump), port, depth + 1, seen, sets)
        if d then return d end
      elseif verdict == "drop" or verdict == "reject" then
        if names_port or #other == 0 then
          return { action = "block", where = where, rule = render_nft(r.expr),
                   partial = #other > 0 and table.concat(other, " ") or nil, catch_all = not names_port or nil }
        end
      elseif verdict == "accept" then
        if #other == 0 then
          return { action = "allow", where = where, rule = render_nft(r.expr) }
        end
      elseif verdict == "return" then
        if #other == 0 then return nil end
      end
    end
  end
  if ch.policy == "drop" and depth == 0 then
    return { action = "block", where = string.format("table %s %s chain %s policy", ch.family, ch.table, ch.name),
             rule = "policy drop", policy = true }
  end
  return nil
end

-- doc: decoded `nft -j list ruleset`. Returns verdicts for port 25 out and in.
function M.nft(doc, port)
  port = port or PORT
  local chains, base, sets = {}, {}, {}
  for _, item in ipairs(doc and doc.nftables or {}) do
    local named = (type(item.set) == "table" and item.set) or (type(item.map) == "table" and item.map)
    if named and named.name then
      -- named sets and maps, by table: "tcp dport @name" and "vmap @name" look them up
      local st = named
      local tk = tostring(st.family) .. " " .. tostring(st.table)
      sets[tk] = sets[tk] or {}
      sets[tk][st.name] = { elem = type(st.elem) == "table" and st.elem or {} }
    elseif item.chain then
      local c = item.chain
      local key = c.family .. " " .. c.table .. " " .. c.name
      chains[key] = { family = c.family, table = c.table, name = c.name, hook = c.hook, policy = c.policy,
                      type = c.type, rules = {} }
      if c.hook == "output" or c.hook == "input" then
        if c.type == nil or c.type == "filter" then base[#base + 1] = key end
      end
    elseif item.rule then
      local r = item.rule
      local key = r.family .. " " .. r.table .. " " .. r.chain
      if chains[key] then table.insert(chains[key].rules, { expr = r.expr, handle = r.handle }) end
    end
  end
  table.sort(base)
  local out = {}
  for _, key in ipairs(base) do
    local ch = chains[key]
    -- arp/bridge/netdev tables never see our TCP
    if ch.family == "ip" or ch.family == "ip6" or ch.family == "inet" then
      local d = walk_nft(chains, key, port, 0, {}, sets)
      if d then
        d.dir = ch.hook == "output" and "out" or "in"
        d.source = "nft"
        d.family = ch.family
        out[#out + 1] = d
      end
    end
  end
  return out
end

-- Every nft rule that names the port (tcp/th dport, a set or verdict map
-- holding it), in any table and chain, whatever it decides: the first match
-- decides (M.nft), but an administrator wants to see all of them.
-- Returns { {source = "nft", where =, rule =, verdict = "drop"|"accept"|...|nil} }.
function M.nft_port_rules(doc, port)
  port = port or PORT
  local chains, order, sets = {}, {}, {}
  for _, item in ipairs(doc and doc.nftables or {}) do
    local named = (type(item.set) == "table" and item.set) or (type(item.map) == "table" and item.map)
    if named and named.name then
      local tk = tostring(named.family) .. " " .. tostring(named.table)
      sets[tk] = sets[tk] or {}
      sets[tk][named.name] = { elem = type(named.elem) == "table" and named.elem or {} }
    elseif item.chain then
      local c = item.chain
      local key = c.family .. " " .. c.table .. " " .. c.name
      chains[key] = { family = c.family, table = c.table, name = c.name, rules = {} }
      order[#order + 1] = key
    elseif item.rule then
      local r = item.rule
      local ch = chains[r.family .. " " .. r.table .. " " .. r.chain]
      if ch then ch.rules[#ch.rules + 1] = { expr = r.expr, handle = r.handle } end
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    local ch = chains[key]
    for i, r in ipairs(ch.rules) do
      local verdict, names_port, _, never = classify_nft(r.expr, port, sets[ch.family .. " " .. ch.table])
      if names_port and not never then
        out[#out + 1] = { source = "nft", verdict = verdict, rule = render_nft(r.expr),
          where = string.format("table %s %s chain %s rule %d (handle %s)", ch.family, ch.table, ch.name, i,
            tostring(r.handle)) }
      end
    end
  end
  return out
end

-- ------------------------------------------------------------ iptables-save

local function tokens(s)
  local t = {}
  for w in s:gmatch("%S+") do t[#t + 1] = w end
  return t
end

-- One "-A CHAIN ..." line -> {chain, target, dport, conds, established, never}
local function parse_ipt_rule(line, port)
  local t = tokens(line)
  local r = { chain = t[2], other = {}, names_port = false, never = false }
  local i = 3
  local neg = false
  while i <= #t do
    local w = t[i]
    if w == "!" then neg = true; i = i + 1
    else
      local v = t[i + 1]
      if w == "-p" or w == "--protocol" then
        if (v ~= "tcp" and v ~= "6" and v ~= "all") ~= neg then r.never = true end
        i = i + 2
      elseif w == "--dport" or w == "--destination-port" or w == "--dports" or w == "--destination-ports" then
        local hit = M.port_in(v, port)
        if neg then hit = not hit end
        if hit then r.names_port = true else r.never = true end
        i = i + 2
      elseif w == "-j" or w == "--jump" or w == "-g" or w == "--goto" then
        r.target = v; i = i + 2
      elseif w == "--state" or w == "--ctstate" then
        local s = (v or ""):upper()
        if neg then
          if s:find("NEW") then r.never = true end
        elseif not s:find("NEW") then r.never = true end
        i = i + 2
      elseif w == "-o" or w == "-i" or w == "--out-interface" or w == "--in-interface" then
        if v == "lo" and not neg then r.never = true else r.other[#r.other + 1] = w .. " " .. (neg and "! " or "") .. tostring(v) end
        i = i + 2
      elseif w == "-m" or w == "--match" then
        i = i + 2 -- the module's own options follow
      elseif w == "--sport" or w == "--sports" or w == "--source-port" then
        r.other[#r.other + 1] = w .. " " .. tostring(v); i = i + 2
      elseif w == "--comment" then
        -- a quoted comment may span tokens
        local c = v or ""
        i = i + 2
        if c:sub(1, 1) == '"' and c:sub(-1) ~= '"' then
          while i <= #t and t[i]:sub(-1) ~= '"' do c = c .. " " .. t[i]; i = i + 1 end
          if i <= #t then c = c .. " " .. t[i]; i = i + 1 end
        end
      elseif w == "--reject-with" or w == "--log-prefix" or w == "--log-level" or w == "--limit" or w == "--limit-burst" then
        i = i + 2
      elseif w:sub(1, 1) == "-" and v and v:sub(1, 1) ~= "-" then
        r.other[#r.other + 1] = w .. " " .. (neg and "! " or "") .. v
        i = i + 2
      else
        if w:sub(1, 1) == "-" then r.other[#r.other + 1] = w end
        i = i + 1
      end
      neg = false
    end
  end
  return r
end

-- text: iptables-save output. source: "iptables" or "ip6tables".
function M.iptables(text, source, port)
  port = port or PORT
  source = source or "iptables"
  local tables, cur = {}, nil
  local ln = 0
  for line in (text or ""):gmatch("([^\n]*)\n?") do
    ln = ln + 1
    if line:match("^%*") then
      cur = { name = line:sub(2), chains = {} }
      tables[#tables + 1] = cur
    elseif cur and line:match("^:") then
      local name, policy = line:match("^:(%S+)%s+(%S+)")
      cur.chains[name] = { name = name, policy = policy, rules = {}, line = ln }
    elseif cur and line:match("^%-A ") then
      local r = parse_ipt_rule(line, port)
      r.line = ln
      r.text = line
      local ch = cur.chains[r.chain]
      if not ch then
        ch = { name = r.chain, policy = "-", rules = {} }
        cur.chains[r.chain] = ch
      end
      ch.rules[#ch.rules + 1] = r
    end
  end
  local function walk(t, name, depth, seen)
    local ch = t.chains[name]
    if not ch or depth > 8 or seen[name] then return nil end
    seen[name] = true
    for i, r in ipairs(ch.rules) do
      if not r.never and r.target then
        local where = string.format("%s table %s chain %s rule %d (line %d)", source, t.name, name, i, r.line)
        local tg = r.target
        if tg == "DROP" or tg == "REJECT" then
          if r.names_port or #r.other == 0 then
            return { action = "block", where = where, rule = r.text, line = r.line,
                     partial = #r.other > 0 and table.concat(r.other, " ") or nil, catch_all = not r.names_port or nil }
          end
        elseif tg == "ACCEPT" then
          if #r.other == 0 then return { action = "allow", where = where, rule = r.text, line = r.line } end
        elseif tg == "RETURN" then
          if #r.other == 0 then return nil end
        elseif tg ~= "LOG" and tg ~= "NFLOG" and tg ~= "MARK" and tg ~= "CONNMARK" and t.chains[tg] then
          local d = walk(t, tg, depth + 1, seen)
          if d then return d end
        end
      end
    end
    if depth == 0 and (ch.policy == "DROP" or ch.policy == "REJECT") then
      return { action = "block", where = string.format("%s table %s chain %s policy (line %d)", source, t.name, name, ch.line or 0),
               rule = ":" .. name .. " " .. ch.policy, line = ch.line, policy = true }
    end
    return nil
  end
  local out = {}
  for _, t in ipairs(tables) do
    if t.name == "filter" then
      for _, pair in ipairs { { "OUTPUT", "out" }, { "INPUT", "in" } } do
        local d = walk(t, pair[1], 0, {})
        if d then
          d.dir = pair[2]
          d.source = source
          out[#out + 1] = d
        end
      end
    end
  end
  return out
end

-- Every iptables-save rule (any table and chain) that names the port.
-- Returns { {source =, where =, rule =, line =, verdict = target} } in file order.
function M.iptables_port_rules(text, source, port)
  port = port or PORT
  source = source or "iptables"
  local out, tbl, ln = {}, "?", 0
  for line in (text or ""):gmatch("([^\n]*)\n?") do
    ln = ln + 1
    if line:match("^%*") then tbl = line:sub(2)
    elseif line:match("^%-A ") then
      local r = parse_ipt_rule(line, port)
      if r.names_port and not r.never then
        out[#out + 1] = { source = source, verdict = r.target, rule = line, line = ln,
          where = string.format("%s table %s chain %s (line %d)", source, tbl, tostring(r.chain), ln) }
      end
    end
  end
  return out
end

-- ------------------------------------------------------------ UFW

-- KEY=value / KEY="value" lines -> {KEY = {value=, line=}}
function M.shell_vars(text)
  local v = {}
  local ln = 0
  for line in (text or ""):gmatch("([^\n]*)\n?") do
    ln = ln + 1
    local k, val = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k and not line:match("^%s*#") then
      val = val:gsub("%s+#.*$", "")
      val = val:match('^"(.*)"$') or val:match("^'(.*)'$") or val
      v[k] = { value = val, line = ln }
    end
  end
  return v
end

-- files: {ufw_conf=text|nil, default=text|nil, user_rules=text|nil, user6_rules=text|nil}
-- Returns verdicts, and whether UFW is enabled (nil when unknown).
function M.ufw(files, port)
  port = port or PORT
  local conf = M.shell_vars(files.ufw_conf)
  local enabled = conf.ENABLED and conf.ENABLED.value:lower() == "yes"
  if not files.ufw_conf then enabled = nil end
  local def = M.shell_vars(files.default)
  local out = {}
  for _, dir in ipairs { "out", "in" } do
    local decided
    for _, which in ipairs { "user_rules", "user6_rules" } do
      local ln = 0
      local fname = which == "user_rules" and "/etc/ufw/user.rules" or "/etc/ufw/user6.rules"
      for line in (files[which] or ""):gmatch("([^\n]*)\n?") do
        ln = ln + 1
        local tuple = line:match("^### tuple ###%s+(.*)$")
        if tuple and not decided then
          local f = tokens(tuple)
          -- action proto dport dst sport src [dapp sapp] [direction]
          local action, proto, dport = f[1], f[2], f[3]
          local d = f[#f]
          if d ~= "in" and d ~= "out" and not d:match("^in_") and not d:match("^out_") then d = "in" end
          d = d:sub(1, 2) == "in" and "in" or "out"
          if d == dir and (proto == "tcp" or proto == "any") and M.port_in(dport, port) then
            local other = {}
            if f[4] and f[4] ~= "0.0.0.0/0" and f[4] ~= "::/0" then other[#other + 1] = "to " .. f[4] end
            if f[6] and f[6] ~= "0.0.0.0/0" and f[6] ~= "::/0" then other[#other + 1] = "from " .. f[6] end
            local act = (action == "deny" or action == "reject") and "block" or "allow"
            decided = { action = act, where = string.format("%s line %d", fname, ln), line = ln, rule = tuple,
                        partial = #other > 0 and table.concat(other, " ") or nil, dir = dir, source = "ufw" }
          end
        end
      end
    end
    if not decided then
      local key = dir == "out" and "DEFAULT_OUTPUT_POLICY" or "DEFAULT_INPUT_POLICY"
      local p = def[key]
      if p then
        local v = p.value:upper()
        decided = { action = (v == "DROP" or v == "REJECT") and "block" or "allow", policy = true,
                    where = string.format("/etc/default/ufw line %d", p.line), line = p.line,
                    rule = key .. '="' .. p.value .. '"', dir = dir, source = "ufw" }
      end
    end
    if decided then out[#out + 1] = decided end
  end
  return out, enabled
end

-- ------------------------------------------------------------ CSF

-- text: /etc/csf/csf.conf. Returns verdicts and {smtp_block=, testing=, vars=}.
function M.csf(text, port)
  port = port or PORT
  local v = M.shell_vars(text)
  local out = {}
  local info = { vars = v }
  local sb = v.SMTP_BLOCK
  if sb and sb.value == "1" then
    local ports = v.SMTP_PORTS and v.SMTP_PORTS.value or "25,465,587"
    info.smtp_block = {
      line = sb.line, ports = ports, covers = M.port_in(ports, port),
      allow_user = v.SMTP_ALLOWUSER and v.SMTP_ALLOWUSER.value or "",
      allow_group = v.SMTP_ALLOWGROUP and v.SMTP_ALLOWGROUP.value or "",
      allow_local = v.SMTP_ALLOWLOCAL and v.SMTP_ALLOWLOCAL.value or "",
    }
  end
  info.testing = v.TESTING and v.TESTING.value == "1"
  for _, pair in ipairs { { "TCP_OUT", "out" }, { "TCP_IN", "in" }, { "TCP6_OUT", "out" }, { "TCP6_IN", "in" } } do
    local e = v[pair[1]]
    if e then
      local has = M.port_in(e.value, port) and e.value ~= ""
      out[#out + 1] = { dir = pair[2], source = "csf", action = has and "allow" or "block", line = e.line,
                        where = string.format("/etc/csf/csf.conf line %d", e.line),
                        rule = pair[1] .. ' = "' .. e.value .. '"', key = pair[1] }
    end
  end
  return out, info
end

return M

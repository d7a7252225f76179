-- SMTP client dialogue over net.connect sockets: greeting, EHLO (HELO
-- fallback), capabilities, STARTTLS, EHLO again, optional recipient probe
-- (MAIL FROM / RCPT TO / RSET, never DATA), QUIT. Pure protocol logic: every
-- byte goes through the socket methods, so --trace/--record/--replay see it.
--
-- smtp.session(address, port, opts) -> s (always a table, never raises for
-- network outcomes). See RULES.md "Library smtp" for every field.
local M = {}

M.DEFAULT_SLOW_GREETING_MS = 2000

-- Parses the lines of a 250 EHLO reply into { domain=, caps = {KEYWORD = {params}}, list = {KEYWORD...} }.
function M.parse_ehlo(reply)
  local out = { caps = {}, list = {} }
  local lines = reply and reply.lines or {}
  out.domain = lines[1] and lines[1]:match("^(%S+)") or nil
  for i = 2, #lines do
    local kw, rest = lines[i]:match("^([%w][%w%-]*)[ =]?(.*)$")
    if kw then
      kw = kw:upper()
      if not out.caps[kw] then
        local params = {}
        for p in rest:gmatch("%S+") do params[#params + 1] = p end
        out.caps[kw] = params
        out.list[#out.list + 1] = kw
      end
    end
  end
  return out
end

-- The name to announce: --helo, else this host's name if it is fully
-- qualified, else the address literal of our end of the connection
-- (RFC 5321 4.1.3), which is always acceptable syntax.
function M.helo_name(opts, local_address)
  if opts.helo and opts.helo ~= "" then return opts.helo end
  local h = net.hostname()
  if h and h:find("%.") and not h:find("%.$") then return h end
  if local_address then
    if local_address:find(":") then return "[IPv6:" .. local_address .. "]" end
    return "[" .. local_address .. "]"
  end
  return h or "localhost"
end

local function classify(reply)
  if not reply then return nil end
  return math.floor(reply.code / 100)
end

-- One command and its reply. Returns reply or nil, status, detail.
local function command(s, sock, line, timeout)
  local ok, st, detail = sock:send(line .. "\r\n", { timeout = timeout })
  if not ok then return nil, st, detail end
  return sock:read_reply { timeout = timeout }
end

local function fail(s, stage, status, detail)
  s.failed_stage = stage
  s.failure = { status = status, error = detail and detail.error, limit = detail and detail.limit,
                partial = detail and detail.partial, unterminated = detail and detail.unterminated,
                elapsed_ms = detail and detail.elapsed_ms }
  return s
end

-- Words in a 421/4.7.x reply by which receivers say they limit connections
-- or their rate from this client: Postfix anvil ("too many connections from
-- ADDR", "too many connections" rate and count limits), Exim ("too many
-- connections from your host", "Too many concurrent SMTP connections"),
-- Microsoft ("4.7.500 Server busy", "temporarily rate limited"), Gmail
-- ("4.7.28 ... unusual rate"), Sendmail ("too many open connections").
local RATE_WORDS = { "too many connections", "too many concurrent", "too many open connections",
  "too many smtp sessions", "too many sessions", "connection rate", "connection limit", "rate limit",
  "rate-limit", "ratelimit", "rate limited", "unusual rate", "server busy", "exceeded the maximum number of connections" }

-- Does this reply say the receiver limits connections from this client?
-- A temporary (4xx) reply whose text says so; 421 4.7.0 without such words
-- (greylisting, maintenance) is not enough.
function M.rate_limited(reply)
  if not reply or math.floor(reply.code / 100) ~= 4 then return false end
  local t = (reply.text or ""):lower()
  for _, w in ipairs(RATE_WORDS) do
    if t:find(w, 1, true) then return true end
  end
  return false
end

-- opts: host (for SNI and evidence), source, helo, timeout (seconds, each
-- stage), greeting_timeout, tls (default true), rcpt, mail_from; sock and
-- connect (the detail of its net.connect): a connection already open (the tcp
-- rule's probe) to carry the dialogue, so no second connection is made.
function M.session(address, port, opts)
  opts = opts or {}
  local timeout = opts.timeout or 10
  local s = { address = address, port = port, host = opts.host, source = opts.source, stages = {} }
  local sock, verdict, detail = opts.sock, opts.connect, nil
  if sock then
    detail, s.reused = opts.connect, true
  else
    sock, verdict, detail = net.connect(address, port, { timeout = timeout, source = opts.source })
  end
  if not sock then
    s.connect = { verdict = verdict, error = detail and detail.error }
    return fail(s, "connect", verdict, detail)
  end
  local info = sock:info()
  s.conn, s.local_address = info.conn, (detail and detail.source) or info.source
  s.connect_ms = detail and detail.elapsed_ms

  -- greeting
  local g, st, d = sock:read_reply { timeout = opts.greeting_timeout or timeout }
  if not g then
    sock:close()
    return fail(s, "greeting", st, d)
  end
  s.greeting = g
  s.greeting_ms = g.elapsed_ms
  if classify(g) ~= 2 then
    -- 421/554: be polite anyway (RFC 5321 3.1: the client should QUIT)
    s.quit = command(s, sock, "QUIT", timeout)
    sock:close()
    return s
  end

  -- EHLO, then HELO if refused
  s.helo = M.helo_name(opts, s.local_address)
  local r
  r, st, d = command(s, sock, "EHLO " .. s.helo, timeout)
  if not r then sock:close(); return fail(s, "ehlo", st, d) end
  s.ehlo = r
  if classify(r) ~= 2 then
    local h
    h, st, d = command(s, sock, "HELO " .. s.helo, timeout)
    if not h then sock:close(); return fail(s, "helo", st, d) end
    s.helo_reply = h
    if classify(h) ~= 2 then
      s.quit = command(s, sock, "QUIT", timeout)
      sock:close()
      return s
    end
  else
    s.capabilities = M.parse_ehlo(r)
  end

  -- STARTTLS
  s.starttls_offered = s.capabilities ~= nil and s.capabilities.caps.STARTTLS ~= nil
  if s.starttls_offered and opts.tls ~= false then
    r, st, d = command(s, sock, "STARTTLS", timeout)
    if not r then sock:close(); return fail(s, "starttls", st, d) end
    s.starttls_reply = r
    if r.code ~= 220 then
      s.tls_error = { status = "refused", error = string.format("%d %s", r.code, r.text) }
    else
      local facts
      facts, st, d = sock:starttls { servername = opts.host, timeout = opts.tls_timeout or timeout }
      if not facts then
        s.tls_error = { status = st, error = d and d.error, elapsed_ms = d and d.elapsed_ms }
        sock:close()
        return s
      end
      s.tls = facts
      -- RFC 3207: forget everything, EHLO again
      r, st, d = command(s, sock, "EHLO " .. s.helo, timeout)
      if not r then sock:close(); return fail(s, "ehlo_tls", st, d) end
      s.ehlo_tls = r
      if classify(r) ~= 2 then
        s.quit = command(s, sock, "QUIT", timeout)
        sock:close()
        return s
      end
      s.capabilities_tls = M.parse_ehlo(r)
    end
  end

  -- recipient probe: MAIL FROM, RCPT TO, RSET. Never DATA.
  if opts.rcpt then
    local probe = { rcpt = opts.rcpt, mail_from = opts.mail_from or "" }
    s.probe = probe
    r, st, d = command(s, sock, "MAIL FROM:<" .. probe.mail_from .. ">", timeout)
    if not r then sock:close(); return fail(s, "mail_from", st, d) end
    probe.mail = r
    if classify(r) == 2 then
      r, st, d = command(s, sock, "RCPT TO:<" .. probe.rcpt .. ">", timeout)
      if not r then sock:close(); return fail(s, "rcpt_to", st, d) end
      probe.reply = r
    end
    r, st, d = command(s, sock, "RSET", timeout)
    if not r then sock:close(); return fail(s, "rset", st, d) end
  end

  s.quit = command(s, sock, "QUIT", timeout)
  sock:close()
  return s
end

return M

-- Open connections handed from one rule to another: the tcp rule's probe
-- connection carries the smtp rule's dialogue, so a check opens one
-- connection per address, port and source (as a sender does for one delivery
-- attempt) instead of a probe and then a session. A receiver that limits
-- connections per client (Postfix anvil: smtpd_client_connection_rate_limit)
-- would otherwise answer the second one "421 too many connections".
--
-- conn.hold(key, sock, detail) keeps a connected socket under key;
-- conn.take(key) -> sock, detail (once; nil when none is held);
-- conn.release(key) closes a held socket nobody took.
local M = {}

local held = {}  -- key -> {sock=, detail=}

-- The epoch (task.epoch()) keeps two serve probes of the same address from
-- taking each other's connection.
function M.key(address, port, source, timeout)
  return "conn|" .. task.epoch() .. "|" .. address .. "|" .. port .. "|" .. tostring(source) .. "|" .. tostring(timeout)
end

-- With several workers (batch -P N, a Lua state each) a held connection is
-- parked with the process (net.park) and taken by whichever worker's smtp
-- rule carries the dialogue (net.unpark), so each address still gets one
-- connection per run. With one worker it stays here.
function M.hold(key, sock, detail)
  local old = held[key]
  if old then
    held[key] = nil
    old.sock:close()
  end
  if net.park(key, sock, detail) then return end
  held[key] = { sock = sock, detail = detail }
end

function M.take(key)
  local h = held[key]
  if not h then return net.unpark(key) end
  held[key] = nil
  return h.sock, h.detail
end

function M.release(key)
  local sock = M.take(key)
  if sock then sock:close() end
end

return M

-- Recipient validity (mxdiag logs): destinations that fail and never succeed
-- because the address is wrong, not the network. A domain that looks like a
-- misspelling of one this server delivers to often, or of a large mailbox
-- provider (lib/mailbox_providers.lua): a dropped, added or changed letter,
-- two letters swapped, a wrong or cut top-level domain ("hotmai.com",
-- "homtail.com", "gmile.com", "hotmail.co"), or a provider's name with
-- something glued in front ("2012gmail.com"); and domains the logs say do
-- not exist or accept no mail. They are grouped here and kept out of the
-- network verdict (fact logs.invalid_domains, read by 95-logs-scope).
local util = require("logs_util")
local providers = require("mailbox_providers")

local MAX_CANDIDATES = 1000 -- failing domains examined, most failures first
local MAX_REFERENCES = 50   -- domains this server delivers to most, beside the providers

-- A name taken apart once: the name, its first label, the rest, and the name
-- without digits (nil when it has none).
local function parts(d)
  local label, rest = d:match("^([^.]+)%.(.+)$")
  return { d = d, b = util.bytes(d), label = label or d, tld = rest or "",
    nodigits = d:find("%d") and d:gsub("%d", "") or nil }
end

-- How much candidate c looks like a misspelling of reference r (parts, c ~= r):
-- nil when it does not, else a score, lower is closer.
local function looks_like(c, r)
  local cl, ct, rl, rt = c.label, c.tld, r.label, r.tld
  if #rl < 3 then return nil end
  -- numbered names (mx1/mx2, d00/d10) differ on purpose, not by a slip
  if c.nodigits and r.nodigits and c.nodigits == r.nodigits then return nil end
  -- the provider's name with digits or a few letters glued in front: "2012gmail.com"
  if ct == rt and #cl > #rl and #rl >= 4 and #cl - #rl <= 6 and cl:sub(-#rl) == rl then return #cl - #rl end
  -- same name, wrong or cut top-level domain: "hotmail.co", "gmail.cm", "yahoo.om"
  if cl == rl and ct ~= rt and util.distance(util.bytes(ct), #ct, util.bytes(rt), #rt, 1) <= 1 then return 1 end
  -- a letter dropped, added, changed or two swapped; two edits for longer names
  local max = #r.d >= 9 and 2 or 1
  if #c.d < 6 or math.abs(#c.d - #r.d) > max then return nil end
  local d = util.distance(c.b, #c.d, r.b, #r.d, max)
  if d <= max then return d end
  return nil
end

return {
  id = "logs-recipients",
  kind = "logs",
  description = "mxdiag logs: failing destinations that look mistyped or do not exist (invalid recipient addresses)",
  categories = { "logs" },
  provides = { "logs.invalid_domains" },
  codes = { ["logs.invalid_recipients"] = "warn" },
  run = function(target, report)
    local L = target.facts.logs
    local refs, is_ref, is_provider = {}, {}, {}
    for _, d in ipairs(providers) do
      if not is_ref[d] then refs[#refs + 1] = d; is_ref[d] = true; is_provider[d] = true end
    end
    -- sorted as plain records of the two keys (util.sort_by reads each
    -- once), not the fact's sealed groups
    local busiest = {}
    for _, g in ipairs(L.domains) do
      local ok = g.successes
      if ok > 0 and not g.other then busiest[#busiest + 1] = { key = g.key, successes = ok } end
    end
    util.sort_by(busiest, { "-successes", "key" })
    for i = 1, math.min(#busiest, MAX_REFERENCES) do
      local d = busiest[i].key
      if not is_ref[d] then refs[#refs + 1] = d; is_ref[d] = true end
    end
    local ref_parts = {}
    for i, r in ipairs(refs) do ref_parts[i] = parts(r) end
    -- candidates: external failures, never a success
    local cands = {}
    for _, g in ipairs(L.domains) do
      local f = g.failures
      if f > 0 and g.successes == 0 and not g.other then cands[#cands + 1] = { g = g, key = g.key, failures = f } end
    end
    util.sort_by(cands, { "-failures", "key" })
    local invalid, list = {}, {}
    for i = 1, math.min(#cands, MAX_CANDIDATES) do
      local g = cands[i].g
      local d = g.key
      local like
      -- a server that answered and refused us (blocklist, greeting, our identity, or any
      -- reply no pattern names: Yahoo's "421 [TSS04] … deferred due to user complaints"
      -- from yahoo.com.mx's MX) exists: no typo (calling a working domain "mistyped" is
      -- the worse mistake); a lookalike of a domain of ours must fail like a wrong
      -- address (it does not exist, no mail server); of a large provider, any way
      -- but those (squatted lookalikes often run no mail server at all)
      local cls = util.by_class(g)
      local answered = (cls.reputation or 0) + (cls.policy or 0) + (cls.tls or 0) + (cls.identity or 0)
        + (cls.other or 0) > 0
      local wrong = (cls.recipient or 0) + (cls.dns or 0)
      if not is_ref[d] and not answered then
        local best
        local cp = parts(d)
        for i, r in ipairs(refs) do
          if r ~= d and (is_provider[r] or wrong * 2 >= g.failures) then
            local score = looks_like(cp, ref_parts[i])
            if score and (not best or score < best) then like, best = r, score end
          end
        end
      end
      local nx = (g.by_cause.domain_not_found or 0) + (g.by_cause.null_mx or 0)
      local reason
      if like then reason = "misspelling"
      elseif nx > 0 and nx * 2 >= g.failures then
        reason = (g.by_cause.null_mx or 0) > (g.by_cause.domain_not_found or 0) and "null_mx" or "not_found"
      end
      if reason then
        local cause = util.dominant(g)
        invalid[d] = { reason = reason, looks_like = like, failures = g.failures, cause = cause }
        list[#list + 1] = { domain = d, reason = reason, looks_like = like, failures = g.failures,
          recipients = g.recipients, dominant_cause = cause }
      end
    end
    report:publish("logs.invalid_domains", invalid)
    if #list == 0 then return end
    local fails, typos = 0, 0
    for _, e in ipairs(list) do
      fails = fails + e.failures
      if e.reason == "misspelling" then typos = typos + 1 end
    end
    local names = {}
    for i = 1, math.min(#list, 8) do
      local e = list[i]
      names[#names + 1] = e.looks_like and string.format("%s (like %s)", e.domain, e.looks_like)
        or string.format("%s (%s)", e.domain, e.reason == "null_mx" and "accepts no mail" or "does not exist")
    end
    if #list > 8 then names[#names + 1] = string.format("and %d more", #list - 8) end
    local kinds = {}
    if typos > 0 then kinds[#kinds + 1] = util.n(typos, "looks", "look") .. " mistyped" end
    if #list - typos > 0 then kinds[#kinds + 1] = util.n(#list - typos, "does", "do") .. " not exist or accept no mail" end
    report:finding {
      code = "logs.invalid_recipients",
      summary = string.format("invalid recipient addresses: %s to %s that never succeeded (%s): %s",
        util.n(fails, "failed delivery", "failed deliveries"), util.n(#list, "domain"),
        table.concat(kinds, ", "), table.concat(names, ", ")),
      explanation = "These destinations failed and never accepted a message in the logs read, and their names "
        .. "look like misspellings of domains this server delivers to often or of large mailbox providers, "
        .. "or the logs say they do not exist. The addresses are wrong: this is not a network problem, and "
        .. "they are left out of the delivery verdict.",
      advice = "Fix the addresses at their source (sign-up forms, address books, the application that sends) and "
        .. "validate addresses where they are entered: check the domain's MX before accepting it, and offer a "
        .. "correction for near-misses of common providers (\"did you mean gmail.com?\").",
      evidence = { domains = list, failures = fails, misspelled_domains = typos,
        nonexistent_domains = #list - typos },
    }
  end,
}

-- Work shared by every check of one run. In `mxdiag batch` thousands of
-- domains use the same few MX hosts: probing each address once and handing
-- the result to every domain is both the speed and the politeness of the
-- tool. shared.once(key, fn) runs fn once per key per run; concurrent callers
-- wait for the first one's result; later callers get it at once.
--
-- The values returned are shared between checks: treat them as read-only.
--
-- "One run" is one epoch (task.epoch()): check and batch have one; serve
-- starts a new one for every probe, so a probe never reads an earlier
-- probe's connection. Only the last EPOCHS_KEPT epochs are remembered (an
-- older one still running just does its work again: never a stale answer).
local M = {}

local EPOCHS_KEPT = 64
local by_epoch, order = {}, {}  -- epoch -> {key -> {event=, done=, ok=, values=}}; epochs oldest first

-- the current epoch's table in a store of the last EPOCHS_KEPT epochs
-- (epochs: epoch -> table; order: the epochs kept, oldest first)
local function epoch_table(epochs, order)
  local ep = task.epoch()
  local t = epochs[ep]
  if not t then
    t = {}
    epochs[ep] = t
    order[#order + 1] = ep
    if #order > EPOCHS_KEPT then epochs[table.remove(order, 1)] = nil end
  end
  return t
end

local function current()
  return epoch_table(by_epoch, order)
end

-- With several workers (batch -P N: a Lua state each) the first worker to
-- ask works a key out for all of them (task.share: a process-wide store);
-- the others wait for it and read a copy. The checks of one worker still
-- wait for each other here, as with one worker.
local function run_shared(key, fn)
  local skey = task.epoch() .. "|" .. key
  local st, a, b = task.share(skey)
  while st == "wait" do
    task.wait(a)
    st, a, b = task.share(skey)
  end
  if st == "done" then return b end
  local r = table.pack(pcall(fn))
  if st == "run" then task.share_publish(skey, r[1], r) end
  return r
end

-- A caller that waits for another check's work and sees it given up (that
-- check's rule was stopped by its deadline while working the key out: its
-- event is released with task.wait returning false) works the key out
-- itself; the first such caller does, later ones wait for it. Each round
-- follows one owner stopped by its deadline, and this caller's own deadline
-- still bounds the whole.
--
-- once_in(entries, key, fn): that, in the current epoch's entries (current()),
-- returning the key's entry once it is done; once_in(entries, key, fn, true):
-- the key's first value (its error raised), so that shared.all's jobs reach
-- it by a tail call (issue 21: one call frame fewer to allocate in each job's
-- new thread).
local function once_in(entries, key, fn, first)
  local e = entries[key]
  while e and not e.done do
    if task.wait(e.event) ~= false then break end
    if entries[key] == e then entries[key] = nil end
    e = entries[key]
  end
  if not e then
    e = { event = task.event() }
    entries[key] = e
    local r = run_shared(key, fn)
    e.ok = r[1]
    e.values = r
    e.done = true
    task.signal(e.event)
  end
  if first then
    if not e.ok then error(e.values[2], 0) end
    return e.values[2]
  end
  return e
end

function M.once(key, fn)
  local e = once_in(current(), key, fn)
  if not e.ok then error(e.values[2], 0) end
  return table.unpack(e.values, 2, e.values.n)
end

-- shared.done(key): true when the value for key is already stored (a later
-- caller gets it without running fn).
function M.done(key)
  local e = current()[key]
  return (e ~= nil and e.done == true) or task.share_done(task.epoch() .. "|" .. key)
end

-- shared.all(jobs): jobs = {{key, fn}, ...}. Like task.all over
-- shared.once(key, fn), returning each job's first value in order, but a key
-- whose value is already known costs no task: in a batch most are.
--
-- Allocations (issue 21): in a batch most calls find every key done, so the
-- lists of jobs still to run are made only when one is not; a job's function
-- captures the job itself (one upvalue per job, not its key and function).
function M.all(jobs)
  local out, todo, at = {}, nil, nil
  local entries = current()
  for i, j in ipairs(jobs) do
    local e = entries[j[1]]
    if e and e.done then
      if not e.ok then error(e.values[2], 0) end
      out[i] = e.values[2]
    else
      -- shared.once(key, fn)'s first value, in this epoch's entries (the
      -- ones read above: the job runs in this check's epoch)
      if not todo then todo, at = {}, {} end
      todo[#todo + 1] = function() return once_in(entries, j[1], j[2], true) end
      at[#at + 1] = i
    end
  end
  if not todo then return out end
  if #todo == 1 then
    out[at[1]] = todo[1]()
  else
    local r = task.all(todo)
    for k, i in ipairs(at) do out[i] = r[k] end
  end
  return out
end

-- shared.memo(key, fn): fn()'s value, worked out once per key per run in
-- this Lua state and returned as it is to every later caller. For pure
-- computation on values already shared (the findings and published entries
-- a probe's result gives): nothing waits for fn (it is meant to do no
-- network work; a caller whose fn is interrupted just lets another work the
-- same value out too, and the last one stored is kept). Unlike
-- shared.once nothing crosses workers (batch -P N: a worker works its own
-- out; the value stays in its Lua state, never copied). An error in fn is
-- raised and nothing is stored. The value is shared by every caller of the
-- run, so it is sealed when it is made (util.seal: a read-only copy, read
-- with indexing, ipairs, pairs and # as before; writing to it raises, and
-- rawget/next see an empty table): report:publish takes its tables as they
-- are instead of sealing a copy for each check, and report:finding converts
-- a finding from it once per run instead of once per check (issue 21).
-- Keys are namespaced by the caller and must name every input fn reads.
local memo_by_epoch, memo_order = {}, {}
local seal = util.seal

function M.memo(key, fn)
  local t = epoch_table(memo_by_epoch, memo_order)
  local v = t[key]
  if v == nil then
    v = seal((fn()))
    t[key] = v
  end
  return v
end

-- shared.str(v): v as a string for the keys callers build (shared.memo, shared.all) and for
-- integers in text: tostring of a number formats it with snprintf (~1,000-1,800 instructions a
-- call, several a domain: a preference, a port, the timeout), and a run names few distinct
-- numbers, so their strings are kept (issue 21). A number with an integer value gives its
-- integer's digits whether it is an integer or a float (3 and 3.0: "3"; tostring(3.0) is "3.0"):
-- the same key for the same number. Anything else as tostring gives it. At most 1,024 numbers
-- kept per Lua state (serve/watch: nothing grows per request past that).
local numstr, nnumstr = {}, 0
local mtype, mtoint = math.type, math.tointeger

function M.str(v)
  local s = numstr[v]
  if s then return s end
  if not mtype(v) or v ~= v then return tostring(v) end
  s = tostring(mtoint(v) or v)
  if nnumstr < 1024 then
    nnumstr = nnumstr + 1
    numstr[v] = s
  end
  return s
end

-- shared.list(ns, list): list sealed (util.seal), the same sealed table for every list of the
-- same values in the same order in this run and Lua state (namespace ns). For a list of values
-- that never change (shared.memo's: a published list of per-address entries), so that every check
-- whose MX set is the same publishes one table, sealed once (issue 21). The values are looked up
-- by identity, one level of a tree per item: no key string is built.
local lists_by_epoch, lists_order = {}, {}
local SEALED = {}  -- the key of a node's sealed list (no value of a list is this table)

function M.list(ns, list)
  local roots = epoch_table(lists_by_epoch, lists_order)
  local node = roots[ns]
  if not node then node = {}; roots[ns] = node end
  for i = 1, #list do
    local v = list[i]
    local nx = node[v]
    if not nx then nx = {}; node[v] = nx end
    node = nx
  end
  local s = node[SEALED]
  if s == nil then
    s = seal(list)
    node[SEALED] = s
  end
  return s
end

return M

-- DNS answers are sealed and shared (tests/rules/test_answers_sealed.py):
-- the same question asked again in a run returns the same read-only table.
return {
  id = "ans-x",
  description = "reads, writes and shares DNS answers",
  categories = { "test" },
  codes = { ["ansx.seen"] = "info" },
  run = function(target, report)
    local name = target.domain
    local a1 = dns.query(name, "A")
    local a2 = dns.query(name, "A")
    local a3 = dns.query(name, "A")
    local ev = {}
    ev.shared = rawequal(a2, a3)
    ev.status = a1.status
    ev.n = #a1.answers
    local ips = {}
    for _, rr in ipairs(a3.answers) do ips[#ips + 1] = rr.data end
    ev.ips = table.concat(ips, ",")
    local keys = {}
    for k in pairs(a1) do keys[#keys + 1] = k end
    table.sort(keys)
    ev.keys = table.concat(keys, ",")
    local function refused(f)
      local ok, err = pcall(f)
      return not ok and tostring(err):find("attempt to modify a read-only table", 1, true) ~= nil
    end
    ev.write_first = refused(function() a1.status = "x" end)
    ev.write_shared = refused(function() a3.status = "x" end)
    ev.write_rr = refused(function() a3.answers[1].data = "x" end)
    ev.sort = refused(function() table.sort(a3.answers, function(x, y) return x.data > y.data end) end)
    ev.insert = refused(function() table.insert(a3.answers, {}) end)
    ev.rawset = refused(function() rawset(a3, "status", "x") end)
    ev.cname_empty = #a3.cname == 0 and a3.cname[1] == nil
    ev.write_empty = refused(function() a3.cname[1] = "x" end)
    ev.still = a3.status .. " " .. a3.answers[1].data
    -- a copy is the rule's own
    local copy = {}
    for i, rr in ipairs(a3.answers) do copy[i] = rr.data end
    table.sort(copy, function(x, y) return x > y end)
    ev.sorted_copy = table.concat(copy, ",")
    ev.answer = a3.answers -- the JSON conversion reads the contents
    -- an answer that is no answer (nil, status, detail): detail is the caller's own
    local none, st, detail = dns.query("missing." .. name, "A")
    ev.missing = none and none.status or st
    if detail then
      detail.mine = true
      ev.detail_writable = detail.mine
    end
    report:finding { code = "ansx.seen", summary = "seen", evidence = ev }
  end,
}

-- Publishes one fact with the shapes a rule may hand over (nested tables, a
-- list, a table met twice, a cycle, an empty object marked __json, an object
-- with methods), then changes its own table: what the readers see is the
-- value at report:publish (tests/rules/test_facts_sealed.py).
return { id = "sbx-pub", description = "publishes, then changes its own table",
  provides = { "sbx.fact", "sbx.later" }, codes = { ["sbx.pub"] = "info" },
  run = function(target, report)
    local nested = { x = 1, deep = { y = { z = "bottom" } } }
    local t = { name = "a", list = { 1, 2, 3 }, nested = nested, again = nested,
                empty = setmetatable({}, { __json = "object" }),
                obj = setmetatable({ v = 7 }, { __index = { get = function(self) return self.v end } }) }
    t.self = t
    -- longer than the pairs sealing keeps on its stack (rt_sandbox.c SEAL_RUN):
    -- a list part, string keys whose values share a table, a table as a key
    local long = {}
    for i = 1, 70 do long[i] = i end
    for i = 1, 40 do long["k" .. i] = { n = nested, i = i } end
    long[nested] = "tablekey"
    long.back = t
    long.again = long.k40 -- met twice after the first 16 tables (the seen table's hash part)
    t.long = long
    report:publish("sbx.fact", t)
    -- the publisher's own table stays its own: it may go on changing it
    t.name = "changed"
    t.list[1] = 99
    t.added = true
    nested.x = 2
    t.obj.v = 8
    local own = target.facts["sbx.fact"]
    report:finding { code = "sbx.pub", summary = "publisher",
      evidence = { own_is_mine = own == t, own_name = own.name } }
    report:publish("sbx.later", true)
  end }

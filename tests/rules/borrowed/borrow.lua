-- test double (rules.borrowed): a sealed finding reported by the next check
-- of the run, then dropped while that check is still running
local last -- the previous check's sealed finding
return {
  id = "borrow-x",
  description = "a sealed finding outliving its table (test double, no I/O)",
  categories = {"test"},
  codes = {["borrowx.sealed"] = "info"},
  run = function(target, report)
    if last then
      -- the second report of the same sealed table: the check borrows the cached tree
      report:finding(last)
      -- and an evidence value that is a sealed copy (its tree cached and borrowed too)
      report:finding{code = "borrowx.sealed", summary = "evidence of " .. target.input,
                     evidence = {list = last.evidence.list, n = 2}}
    end
    local f = util.seal({code = "borrowx.sealed", summary = "sealed finding of " .. target.input,
                         evidence = {list = util.seal({"first " .. target.input, "second"}), n = 1}})
    report:finding(f)
    report:finding{code = "borrowx.sealed", summary = "evidence of " .. target.input,
                   evidence = {list = f.evidence.list, n = 2}}
    last = f -- the earlier one is garbage now: only this check's findings still need its trees
    local junk = {}
    for i = 1, 30000 do junk[i % 64 + 1] = {i, "x" .. i} end
  end,
}

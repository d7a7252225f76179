-- While loading: catastrophic backtracking, charged to the loading budget.
string.find(string.rep("a", 5000), string.rep("a-", 40) .. "b")
return {}

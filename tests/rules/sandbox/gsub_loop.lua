-- A replacement function that loops, called from the matcher.
return { id = "sb-gsub-loop", description = "gsub with a looping replacement function", codes = { ["sb.never"] = "ok" },
  run = function(target, report)
    string.gsub("aaa", "a", function() while true do end end) --@line (instruction budget|deadline) exceeded
  end }

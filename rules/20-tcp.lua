-- TCP reachability of every MX address, from every source address, all at
-- once: the verdict says whether the host, a firewall or nobody answered.
local explain = require("tcp_explain")
local shared = require("shared")

return {
  id = "tcp",
  description = "Connects to every MX address on the SMTP port and says who answered and how",
  categories = { "network", "default" },
  requires = { "mx.addresses" },
  provides = { "tcp.results" },
  codes = {
    ["tcp.connected"] = "ok", ["tcp.refused"] = "warn", ["tcp.rejected"] = "warn", ["tcp.timeout"] = "warn",
    ["tcp.unreachable"] = "warn", ["tcp.prohibited"] = "warn", ["tcp.local"] = "warn", ["tcp.error"] = "unknown",
  },
  run = function(target, report)
    local port = target.port or target.options.port or 25
    local timeout = target.options.timeout
    local sources = target.options.source_ips or {}
    if #sources == 0 then sources = { false } end
    local probes, jobs = {}, {}
    for _, a in ipairs(target.facts["mx.addresses"]) do
      for _, src in ipairs(sources) do
        local fam_ok = true
        if src then
          local s = net.parse_address(src)
          fam_ok = s and s.family == a.family
        end
        if fam_ok then
          local p = { host = a.host, preference = a.preference, address = a.address, source = src or nil }
          probes[#probes + 1] = p
          -- one probe per address, port and source for the whole run (batch)
          local key = table.concat({ "tcp", a.address, port, tostring(src), tostring(timeout) }, "|")
          jobs[#jobs + 1] = { key, function()
            local sock, verdict, detail = net.connect(a.address, port, { timeout = timeout, source = src or nil })
            if sock then
              sock:close()
              return { verdict = "connected", detail = verdict }
            end
            return { verdict = verdict, detail = detail }
          end }
        end
      end
    end
    local results = shared.all(jobs)
    local out = {}
    for i, p in ipairs(probes) do
      local r = results[i]
      local d = r.detail or {}
      p.verdict = r.verdict
      p.port = port
      p.elapsed_ms = d.elapsed_ms
      -- who sent an ICMP error: the path rule traces only when it was not the MX host
      if d.icmp then
        p.icmp_from, p.icmp_from_destination = d.icmp.from, d.icmp.from_destination
        p.icmp_type, p.icmp_code, p.icmp_text = d.icmp.type, d.icmp.code, d.icmp.text
      end
      out[#out + 1] = p
      local f = explain.finding(p, d, timeout)
      report:finding(f)
    end
    report:publish("tcp.results", out)
  end,
}

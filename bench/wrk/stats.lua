-- Shared by the wrk scripts: counts responses by status in each thread and
-- prints one "WRKJSON {...}" line with throughput and latency percentiles.
-- BENCH_LABEL names the run in that line.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}

-- Counting each status needs wrk's response() hook, which hands every body to
-- Lua (a copy per response: costly for the 40 KB value lists on a 2-core
-- machine). By default only wrk's own count of non-2xx/3xx answers is kept;
-- BENCH_STATUSES=1 counts each status.
if os.getenv("BENCH_STATUSES") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local counts, parts = {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      counts[code] = (counts[code] or 0) + n
    end
  end
  for code, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', code, n))
  end
  if #parts == 0 then
    -- not counted one by one: what wrk counts itself
    table.insert(parts, string.format('"2xx/3xx": %d', summary.requests - summary.errors.status))
    if summary.errors.status > 0 then
      table.insert(parts, string.format('"other": %d', summary.errors.status))
    end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"label": "%s", "requests": %d, "duration_s": %.3f, "rps": %.1f, ' ..
    '"mean_ms": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "non_2xx_3xx": %d}\n',
    os.getenv("BENCH_LABEL") or "run", summary.requests, secs, summary.requests / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout, e.status))
end

-- BENCH_DELAY_MS: each connection waits this long before each request, to
-- pace the load (the rate is then about connections / (delay + latency)).
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace then
  function delay()
    return pace
  end
end

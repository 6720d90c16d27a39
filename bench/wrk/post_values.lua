-- POST /api/v1/kpis/{id}/values, each request a new (KPI, day): request n of
-- thread t is global number t + n * BENCH_THREADS; its KPI is that number
-- modulo the KPIs of BENCH_IDS, its day BENCH_START + number / #KPIs.
-- The KPIs are DAILY, so every request should be a 201.
dofile(os.getenv("BENCH_DIR") .. "/wrk/stats.lua")
local ids, headers, n, step, start = {}, nil, 0, 1, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if #line > 0 then table.insert(ids, line) end
  end
  headers = {
    ["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
    ["content-type"] = "application/json",
  }
  step = tonumber(os.getenv("BENCH_THREADS"))
  n = (tid or 0)
  local y, m, d = os.getenv("BENCH_START"):match("(%d+)-(%d+)-(%d+)")
  start = os.time({ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 })
end

function request()
  local k = n % #ids
  local day = os.date("!%Y-%m-%d", start + math.floor(n / #ids) * 86400)
  n = n + step
  local body = string.format('{"period_start":"%s","value":%d.%02d}', day, n % 100, n % 97)
  return wrk.format("POST", "/api/v1/kpis/" .. ids[k + 1] .. "/values", headers, body)
end

-- GET BENCH_PATH with {id} replaced by a random id of BENCH_IDS (one per line),
-- with the bearer token BENCH_TOKEN.
dofile(os.getenv("BENCH_DIR") .. "/wrk/stats.lua")
local ids, template, headers = {}, os.getenv("BENCH_PATH"), nil

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if #line > 0 then table.insert(ids, line) end
  end
  headers = { ["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") }
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  local path = template:gsub("{id}", ids[math.random(#ids)])
  return wrk.format("GET", path, headers)
end

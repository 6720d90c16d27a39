-- POST /api/v1/auth/login with correct passwords, cycling over the users of
-- BENCH_USERS ("email password" lines), each thread from its own offset.
dofile(os.getenv("BENCH_DIR") .. "/wrk/stats.lua")
local bodies, i = {}, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_USERS")) do
    local email, password = line:match("^(%S+) (%S+)$")
    if email then
      table.insert(bodies, string.format('{"email":"%s","password":"%s"}', email, password))
    end
  end
  i = (tid or 0) * 17
end

function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/auth/login",
    { ["content-type"] = "application/json" }, bodies[(i % #bodies) + 1])
end

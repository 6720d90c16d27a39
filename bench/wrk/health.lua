-- GET /health/live (the path is the URL's).
dofile(os.getenv("BENCH_DIR") .. "/wrk/stats.lua")

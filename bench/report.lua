-- wrk hooks for bench/run.py.
-- With BENCH_PATHS naming a file of paths (one a line), each request takes the next path in
-- turn, so no URL repeats until the list is used up (the "cold" pages: cache misses).
-- When the run ends, its figures are printed as one JSON line prefixed BENCH_JSON; latencies
-- are in microseconds, "status_errors" counts answers that were not 2xx or 3xx.

local paths = {}
local source = os.getenv("BENCH_PATHS")
if source and source ~= "" then
  for line in io.lines(source) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
end

if #paths > 0 then
  local turn = 0
  request = function()
    turn = turn % #paths + 1
    return wrk.format(nil, paths[turn])
  end
end

local function us(value)
  return math.floor(value + 0.5)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "mean_us": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, '
      .. '"status_errors": %d, "timeouts": %d, "paths": %d}\n',
    summary.requests, summary.duration, summary.bytes, us(latency.mean),
    us(latency:percentile(50)), us(latency:percentile(90)), us(latency:percentile(95)),
    us(latency:percentile(99)), us(latency.max),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout, #paths))
end

-- wrk script for the Greenlight bench. Usage (after `--`, wrk passes the
-- rest of the command line to init()):
--   wrk ... -s bench/wrk.lua http://H:P -- new  PREFIX   POST /release, every body a new release
--   wrk ... -s bench/wrk.lua http://H:P -- poll N        POST /release for an existing release 1..N
--   wrk ... -s bench/wrk.lua http://H:P -- get  N        GET /releases/Bench/<1..N>
--   wrk ... -s bench/wrk.lua http://H:P -- path PATH     GET PATH (one fixed route, e.g. an environment's variables)
--   wrk ... -s bench/wrk.lua http://H:P -- healthz       GET /healthz: the server's own ceiling
--   wrk ... -s bench/wrk.lua http://H:P -- deploy PREFIX POST /deployments, every body a new commit
--   wrk ... -s bench/wrk.lua http://H:P -- stack PREFIX  POST /stacks/request, every body a new branch
-- done() prints one line "WRKJSON {...}" with the figures the bench reads.

local threads = {}
local next_tid = 0

-- Runs in the main state once per thread, before it starts: give each
-- thread its own id so that "new" bodies are unique across threads.
function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local mode, arg2, counter, healthz
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  mode, arg2 = args[1], args[2]
  counter = 0
  -- Formatted once: the ceiling should cost wrk as little as it can, since
  -- wrk shares the machine's cores with the server it measures.
  healthz = wrk.format("GET", "/healthz")
  -- tid is set by setup() before init() runs in the thread's state.
  math.randomseed(os.time() * 1000 + (tid or 0))
end

local function body(release_id)
  return '{"ReleaseName":"bench","ReleaseId":"' .. release_id .. '","TeamProject":"Bench"}'
end

function request()
  if mode == "new" then
    counter = counter + 1
    return wrk.format("POST", "/release", headers, body(arg2 .. "-" .. tid .. "-" .. counter))
  elseif mode == "poll" then
    return wrk.format("POST", "/release", headers, body(tostring(math.random(1, tonumber(arg2)))))
  elseif mode == "get" then
    return wrk.format("GET", "/releases/Bench/" .. math.random(1, tonumber(arg2)))
  elseif mode == "path" then
    return wrk.format("GET", arg2)
  elseif mode == "healthz" then
    return healthz
  elseif mode == "deploy" then
    counter = counter + 1
    -- A hex sha unique across threads and runs: the prefix's digits, the
    -- thread, the counter.
    local sha = string.format("%s%02x%08x", arg2:gsub("%D", ""), tid, counter)
    return wrk.format("POST", "/deployments", headers,
      '{"repository_url":"github.com/bench/app","commit_sha":"' .. sha ..
      '","environment":"staging","team_project":"Bench"}')
  elseif mode == "stack" then
    counter = counter + 1
    return wrk.format("POST", "/stacks/request", headers,
      '{"branch":"' .. arg2 .. "-" .. tid .. "-" .. counter .. '","team_project":"Bench"}')
  end
  error("unknown mode " .. tostring(mode))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end

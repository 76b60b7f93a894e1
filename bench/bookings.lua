-- wrk script for bench/api_throughput.py: POST /api/bookings, each request with its own
-- Idempotency-Key and a random phone number, cycling through the bookable half-days.
-- Arguments after `--`: comma-separated days, service token, run name (keys stay unique
-- across runs). Prints one JSON line: answers by status and latency percentiles in ms.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  days = {}
  for day in string.gmatch(args[1], "[^,]+") do table.insert(days, day) end
  token, run = args[2], args[3]
  math.randomseed(os.time() * 1000 + id)
  sent, statuses = 0, {}
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"service_code":"elderly_allowance","mode":"proxy","place_code":"city_hall","day":"%s",' ..
    '"half_day":"%s","resident":{"name":"压测","phone":"139%08d"},' ..
    '"consent":{"given":true,"wording_version":"bench"}}',
    days[sent % #days + 1], (sent % 2 == 0) and "am" or "pm", math.random(0, 99999999))
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token,
                   ["Idempotency-Key"] = string.format("%s-%d-%d", run, id, sent)}
  return wrk.format("POST", "/api/bookings", headers, body)
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, string.format('"%d": %d', status, n)) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"statuses": {%s}, "seconds": %.3f, "socket_errors": %d, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f}\n',
    table.concat(parts, ", "), summary.duration / 1e6, errors, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end

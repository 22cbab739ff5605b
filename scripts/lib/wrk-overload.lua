-- wrk script for scripts/overload.sh: POSTs one MNIST digit to /predict (WRK_BODY, default
-- examples/mnist-test-0000-label-7.json) and, like any wrk connection, sends the next request the moment an answer
-- arrives, a 503 included: the client that ignores Retry-After. wrk's latency figures mix 200s with 503s, so each
-- request carries its send time (CLOCK_MONOTONIC, microseconds) as X-Request-ID, which the server echoes on answers it
-- computed; the latency of successful requests comes from that. At the end it prints one line
--   RESULT seconds=S requests=N connect=N read=N write=N timeout=N p50_ms=X p99_ms=X status_200=N [status_503=N ...]
-- where p50_ms and p99_ms are over the 200 answers only (0.1 ms resolution, capped at 10 s).
local ffi = require("ffi")
ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } mcd_timespec;
    int clock_gettime(int clock, mcd_timespec *time);
]]
local clock = ffi.new("mcd_timespec")
local function now_us()
    ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: the same clock in every wrk thread
    return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
    histogram = {}
    local file = assert(io.open(os.getenv("WRK_BODY") or "examples/mnist-test-0000-label-7.json", "rb"))
    body = file:read("*a")
    file:close()
end

function request()
    local headers = { ["Content-Type"] = "application/json", ["X-Request-ID"] = string.format("%d", now_us()) }
    return wrk.format("POST", "/predict", headers, body)
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 200 then
        local sent = tonumber(headers["X-Request-ID"] or "")
        if sent then
            local bucket = math.min(math.floor((now_us() - sent) / 100), 100000)
            histogram[bucket] = (histogram[bucket] or 0) + 1
        end
    end
end

function done(summary, latency, requests)
    local totals, merged, timed = {}, {}, 0
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
            totals[status] = (totals[status] or 0) + count
        end
        for bucket, count in pairs(thread:get("histogram")) do
            merged[bucket] = (merged[bucket] or 0) + count
            timed = timed + count
        end
    end
    local buckets = {}
    for bucket in pairs(merged) do table.insert(buckets, bucket) end
    table.sort(buckets)
    local function percentile(p)
        local target, seen = timed * p / 100, 0
        for _, bucket in ipairs(buckets) do
            seen = seen + merged[bucket]
            if seen >= target then return (bucket + 1) / 10 end
        end
        return 0
    end
    local e = summary.errors
    local line = string.format(
        "RESULT seconds=%.2f requests=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.1f p99_ms=%.1f",
        summary.duration / 1e6, summary.requests, e.connect, e.read, e.write, e.timeout, percentile(50),
        percentile(99))
    local codes = {}
    for status in pairs(totals) do table.insert(codes, status) end
    table.sort(codes)
    for _, status in ipairs(codes) do
        line = line .. string.format(" status_%d=%d", status, totals[status])
    end
    io.write(line .. "\n")
end

-- wrk script for the reliability scripts: POSTs one MNIST digit to /predict (WRK_BODY, default
-- examples/mnist-test-0000-label-7.json; WRK_AUTH adds "Authorization: Bearer ...") and, at the end, prints one line
--   RESULT requests=N connect=N read=N write=N timeout=N status_200=N [status_503=N ...]
-- so scripts can check every outcome: wrk's own summary hides status codes other than "Non-2xx".
-- WRK_MIX=1 cycles through a mix instead (soak.sh): /predict, a batch of 4, KServe V2 infer, malformed JSON (400),
-- a wrong pixel count (400), an unknown route (404) and /health, so error paths run as often as good ones;
-- WRK_MODEL names the V2 model (default mnist).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
    local file = assert(io.open(os.getenv("WRK_BODY") or "examples/mnist-test-0000-label-7.json", "rb"))
    wrk.method = "POST"
    wrk.body = file:read("*a")
    file:close()
    wrk.headers["Content-Type"] = "application/json"
    if os.getenv("WRK_MIX") == "1" then
        local pixels = wrk.body:match("%[[^%]]*%]")
        local json = { ["Content-Type"] = "application/json" }
        mix = {
            wrk.format("POST", "/predict", json, wrk.body),
            wrk.format("POST", "/predict", json,
                '{"instances":[' .. pixels .. "," .. pixels .. "," .. pixels .. "," .. pixels .. '],"samples":10}'),
            wrk.format("POST", "/v2/models/" .. (os.getenv("WRK_MODEL") or "mnist") .. "/infer", json,
                '{"inputs":[{"name":"pixels","shape":[1,784],"datatype":"FP32","data":' .. pixels .. "}]}"),
            wrk.format("POST", "/predict", json, '{"pixels":[1,2,'),
            wrk.format("POST", "/predict", json, '{"pixels":[1,2,3]}'),
            wrk.format("GET", "/no/such/route"),
            wrk.format("GET", "/health"),
        }
        next_request = 0
    end
    local key = os.getenv("WRK_AUTH")
    if key and key ~= "" then
        wrk.headers["Authorization"] = "Bearer " .. key
    end
end

function request()
    if mix then
        next_request = next_request % #mix + 1
        return mix[next_request]
    end
    return wrk.format()
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local totals = {}
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses") or {}) do
            totals[status] = (totals[status] or 0) + count
        end
    end
    local e = summary.errors
    local line = string.format("RESULT requests=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.1f p99_ms=%.1f",
        summary.requests, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000)
    local codes = {}
    for status in pairs(totals) do table.insert(codes, status) end
    table.sort(codes)
    for _, status in ipairs(codes) do
        line = line .. string.format(" status_%d=%d", status, totals[status])
    end
    io.write(line .. "\n")
end

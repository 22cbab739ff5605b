-- The one wrk script of the benchmarks and reliability runs. Modes, chosen by environment variables:
--   default      POSTs one MNIST digit (WRK_BODY, default examples/mnist-test-0000-label-7.json) to the URL's path.
--   WRK_BODIES   colon-separated body files instead, sent round-robin from a random start per connection
--                (scripts/benchmarks/bench-http.sh: the first 64 test digits).
--   WRK_MIX=1    cycles through a mix (soak.sh, sanitize.sh; the URL is the server's base): /predict, a batch of 4,
--                KServe V2 infer on model WRK_MODEL (default mnist), malformed JSON (400), a wrong pixel count (400),
--                an unknown route (404) and /health, so error paths run as often as good ones.
--   WRK_AUTH     adds "Authorization: Bearer $WRK_AUTH".
--   WRK_RESULT=0 leaves out status counting (no Lua per response: the lightest client, for throughput); otherwise
--                the script prints at the end one line
--                  RESULT requests=N connect=N read=N write=N timeout=N p50_ms=X p99_ms=X status_200=N [status_503=N]
--                so scripts can check every outcome: wrk's own summary hides status codes other than "Non-2xx".
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local function read(path)
    local file = assert(io.open(path, "rb"))
    local text = file:read("*a")
    file:close()
    return text
end

function init(args)
    statuses = {}
    local key = os.getenv("WRK_AUTH")
    local function headers(content_type)  -- a fresh table per request: wrk.format adds Host and Content-Length
        local h = { ["Content-Type"] = content_type }
        if key and key ~= "" then h["Authorization"] = "Bearer " .. key end
        return h
    end
    local json = "application/json"
    requests = {}
    local bodies = os.getenv("WRK_BODIES")
    if bodies and bodies ~= "" then
        for path in string.gmatch(bodies, "[^:]+") do
            requests[#requests + 1] = wrk.format("POST", nil, headers(json), read(path))
        end
        next_request = math.random(#requests) - 1
        return
    end
    local body = read(os.getenv("WRK_BODY") or "examples/mnist-test-0000-label-7.json")
    if os.getenv("WRK_MIX") == "1" then
        local pixels = body:match("%[[^%]]*%]")
        requests = {
            wrk.format("POST", "/predict", headers(json), body),
            wrk.format("POST", "/predict", headers(json),
                '{"instances":[' .. pixels .. "," .. pixels .. "," .. pixels .. "," .. pixels .. '],"samples":10}'),
            wrk.format("POST", "/v2/models/" .. (os.getenv("WRK_MODEL") or "mnist") .. "/infer", headers(json),
                '{"inputs":[{"name":"pixels","shape":[1,784],"datatype":"FP32","data":' .. pixels .. "}]}"),
            wrk.format("POST", "/predict", headers(json), '{"pixels":[1,2,'),
            wrk.format("POST", "/predict", headers(json), '{"pixels":[1,2,3]}'),
            wrk.format("GET", "/no/such/route", headers(nil)),
            wrk.format("GET", "/health", headers(nil)),
        }
    else
        requests = { wrk.format("POST", nil, headers(json), body) }
    end
    next_request = 0
end

function request()
    next_request = next_request % #requests + 1
    return requests[next_request]
end

if os.getenv("WRK_RESULT") ~= "0" then
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
end

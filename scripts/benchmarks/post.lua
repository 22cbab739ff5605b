-- wrk script for scripts/benchmarks/bench-http.sh: POSTs the JSON bodies listed (colon-separated) in $BENCH_BODIES to
-- the URL's path, round-robin per connection, and counts non-200 answers (wrk's own "Non-2xx" line covers status only).
local bodies = {}
for path in string.gmatch(os.getenv("BENCH_BODIES") or "", "[^:]+") do
    local file = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = file:read("*a")
    file:close()
end
assert(#bodies > 0, "BENCH_BODIES lists no body file")
local headers = { ["Content-Type"] = "application/json" }
local index = 0

function init(args)
    index = math.random(#bodies) - 1
end

function request()
    index = index % #bodies + 1
    return wrk.format("POST", nil, headers, bodies[index])
end

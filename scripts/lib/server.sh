# Sourced by the reliability scripts (lifecycle.sh, soak.sh, slow-clients.sh, sanitize.sh) and the API and demo checks: start a server on a free
# port, wait for it, read its memory and descriptors, stop it. Needs bash and /proc (Linux); wrk and curl are
# installed with apt when missing (a fresh machine has neither).

# SERVER_TOOLS (default "wrk curl") lists the load tools to install; the API and demo checks need none.
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
for tool in ${SERVER_TOOLS-wrk curl}; do
    command -v "$tool" >/dev/null || apt_install "$tool"
done

# serve_start LOG [mcdropout-serve options...]: starts "$SERVE" (default .build/release/mcdropout-serve) with
# --port 0, stderr to LOG; sets SERVER_PID, PORT and BASE (http://127.0.0.1:PORT). Fails after 60 s without a port.
serve_start() {
    local log="$1"
    shift
    local out
    out="$(mktemp)"
    "${SERVE:-.build/release/mcdropout-serve}" --port 0 "$@" >"$out" 2>"$log" &
    SERVER_PID=$!
    local tries=0
    until grep -q "listening on" "$out"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $((tries += 1)) -gt 600 ]; then
            echo "server did not start; its log:" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    PORT="$(sed -n 's/.*:\([0-9][0-9]*\)$/\1/p' "$out" | head -1)"
    BASE="http://127.0.0.1:$PORT"
    rm -f "$out"
}

# serve_wait [SECONDS]: waits for the server to exit (default 60 s; then SIGKILL) and sets SERVER_STATUS to its exit
# status. Call it directly, not in $(...): a subshell cannot wait for the server.
serve_wait() {
    local limit=$((${1:-60} * 10)) tries=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        if [ $((tries += 1)) -gt "$limit" ]; then
            echo "server still running after ${1:-60} s; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    SERVER_STATUS=0
    wait "$SERVER_PID" || SERVER_STATUS=$?
}

# serve_stop: SIGTERM to the server serve_start started, if it still runs, then serve_wait (for EXIT traps).
serve_stop() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        serve_wait 30
    fi
}

# rss_kb PID / fd_count PID: resident set size in KiB and open descriptors of a process.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# result_field LINE NAME: the value of NAME=... in a wrk.lua RESULT line (0 when absent).
result_field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | grep . || echo 0; }

# socket_errors LINE: connect + read + write + timeout errors of a RESULT line.
socket_errors() {
    local sum=0 field
    for field in connect read write timeout; do sum=$((sum + $(result_field "$1" "$field"))); done
    echo "$sum"
}

# load_average: the 1/5/15-minute load averages, for the records.
load_average() { cut -d' ' -f1-3 /proc/loadavg; }

#!/usr/bin/env bash
# Usage: scripts/reliability/nginx-failover-test.sh [--duration SECONDS] [--connections N] [--server BINARY]
#                                                   [--config FILE]
# Two mcdropout-serve replicas behind nginx with deploy/nginx/mcdropout.conf (or --config), all on loopback: wrk
# drives POST /predict (a real MNIST digit, 100 passes) through nginx while each replica in turn gets SIGTERM (drain,
# must exit 0) and is started again on its port. Passes when no request failed: wrk counts no socket error and no
# non-2xx answer, nginx's access log holds only 200s, and both replicas served traffic. Installs nginx-light and wrk with apt when
# missing; builds the release server unless --server is given. Traffic stays on 127.0.0.1 and stops after --duration.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
duration=24
connections=8
server=""
config=deploy/nginx/mcdropout.conf
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --server) server="$2"; shift 2 ;;
        --config) config="$2"; shift 2 ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done

. scripts/lib/apt.sh
. scripts/lib/nginx.sh
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] || apt_install --no-install-recommends "${missing[@]}"
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
if [ -z "$server" ]; then
    scripts/lib/install-deps.sh
    swift build -c release --product mcdropout-serve >&2
    server=.build/release/mcdropout-serve
fi
server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ports=("$(free_port)" "$(free_port)")
front="$(free_port)"

# Replica i on ports[i]; its pid goes to replica_pid[i].
declare -a replica_pid
start_replica() {
    local i="$1"
    nice "$server" --host 127.0.0.1 --port "${ports[$i]}" --threads 1 --model "$root/models/mnist.safetensors" \
        --log-level warning >>"$work/replica-$i.log" 2>&1 &
    replica_pid[$i]=$!
    pids+=($!)
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:${ports[$i]}/v2/health/ready" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "replica $i did not become ready" >&2; cat "$work/replica-$i.log" >&2; return 1
}
# SIGTERM replica i, wait for its drain, require exit status 0, start it again.
restart_replica() {
    local i="$1" status=0
    kill -TERM "${replica_pid[$i]}"
    wait "${replica_pid[$i]}" || status=$?
    echo "replica $i (port ${ports[$i]}): SIGTERM, drained, exit status $status; starting it again" >&2
    [ "$status" -eq 0 ] || { echo "FAIL: replica $i exited $status after SIGTERM" >&2; exit 1; }
    start_replica "$i"
}

start_replica 0
start_replica 1

# The shipped config with the replicas' and the listener's ports replaced (nothing else is changed).
nginx_configure "$config" "$work" "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:$front"
"$nginx" -t -p "$work" -c "$work/nginx.conf" 2>&1 | sed 's/^/nginx -t: /' >&2
"$nginx" -p "$work" -c "$work/nginx.conf"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$front/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done

echo "load: wrk, $connections connections, ${duration}s, through nginx :$front to replicas :${ports[0]} :${ports[1]}" >&2
WRK_RESULT=0 nice wrk -t 1 -c "$connections" -d "${duration}s" --timeout 10s -s scripts/lib/wrk.lua \
    "http://127.0.0.1:$front/predict" >"$work/wrk.txt" 2>&1 &
load=$!

sleep "$(( duration / 4 ))"
restart_replica 0
sleep "$(( duration / 4 ))"
restart_replica 1
wait "$load"
cat "$work/wrk.txt" >&2

requests="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"
non2xx="$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' "$work/wrk.txt")"
socket_errors="$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.txt")"
logged="$(wc -l <"$work/access.log")"
# Log lines: msec|status|upstream addresses (", "-separated when nginx failed over)|their statuses|seconds.
# 499 = the client closed the connection: wrk's in-flight requests when its --duration ends (at most one each).
not200="$(awk -F'|' '$2 != 200 && $2 != 499' "$work/access.log" | wc -l)"
aborted="$(awk -F'|' '$2 == 499' "$work/access.log" | wc -l)"
retried="$(awk -F'|' '$3 ~ /,/' "$work/access.log" | wc -l)"
served=()
for i in 0 1; do
    served+=("$(awk -F'|' -v a="127.0.0.1:${ports[$i]}" '{ n = split($3, up, ", "); if (up[n] == a) c++ } END { print c + 0 }' \
        "$work/access.log")")
done

[ "$retried" -gt 0 ] && { echo "requests nginx failed over (msec|status|upstreams|their statuses|seconds):" >&2
    awk -F'|' '$3 ~ /,/' "$work/access.log" | head -10 | sed 's/^/  /' >&2; }
[ "$not200" -gt 0 ] && { echo "requests that failed at nginx:" >&2
    awk -F'|' '$2 != 200 && $2 != 499' "$work/access.log" | head -10 | sed 's/^/  /' >&2; }
failed=$(( ${non2xx:-0} + ${socket_errors:-0} ))  # as the clients saw it; nginx_not_200 must be 0 too
printf '{"requests": %s, "failed": %d, "wrk_non_2xx": %s, "wrk_socket_errors": %s, "nginx_logged": %s, ' \
    "${requests:-0}" "$failed" "${non2xx:-0}" "${socket_errors:-0}" "$logged"
printf '"nginx_failed": %s, "client_aborted_at_end": %s, "nginx_failed_over": %s, ' "$not200" "$aborted" "$retried"
printf '"served_by_replica": [%s, %s], "graceful_restarts": 2}\n' "${served[0]}" "${served[1]}"
if [ "$failed" -ne 0 ] || [ "$not200" -ne 0 ] || [ "$aborted" -gt "$connections" ] || [ "${requests:-0}" -eq 0 ] \
    || [ "${served[0]}" -eq 0 ] || [ "${served[1]}" -eq 0 ]; then
    echo "FAIL: failed requests, no load, or a replica never served" >&2
    tail -20 "$work/error.log" >&2 || true
    exit 1
fi
echo "nginx failover: ${requests} requests, 0 failed, 2 graceful replica restarts under load" >&2

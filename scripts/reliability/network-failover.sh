#!/usr/bin/env bash
# Usage: scripts/reliability/network-failover.sh [--phase SECONDS] [--connections N] [--server BINARY] [--config FILE]
# Network failures between replicas, on hosts this script builds itself (root, iproute2): network namespaces front,
# r0 and r1; veth pairs front-r0 (10.231.0.1 - 10.231.0.2) and front-r1 (10.231.1.1 - 10.231.1.2); a mcdropout-serve
# replica in r0 and in r1 (port 8081), nginx in front with deploy/nginx/mcdropout.conf (or --config; only the
# upstream addresses and the listen port are replaced) and wrk in front driving POST /predict through nginx. Phases
# of PHASE seconds (default 12, longer than nginx's 10 s read timeout) each: steady; r0's link cut
# (`ip link set ... down` on r0's side); r0's link restored;
# r1's link degraded with `tc netem` (10 % loss, 50 ms ± 10 ms delay; where the kernel has no netem, 10 % loss with
# an iptables `statistic` rule and a 2 Mbit/s `tbf` rate limit instead, and the script says so); steady again.
# Reports requests, failures (wrk non-2xx and socket errors, nginx statuses other than 200), requests nginx failed
# over, the latency of each phase (nginx $request_time), and the recovery time: from the link's return to the first
# answer r0 serves again. Exits 1 on a failed request or a recovery slower than 5 s. Installs nginx-light, wrk and
# iptables with apt when missing; builds the release server unless --server is given.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
phase=12 connections=16 server="" config=deploy/nginx/mcdropout.conf
while [ $# -gt 0 ]; do
    case "$1" in
        --phase) phase="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --server) server="$2"; shift 2 ;;
        --config) config="$2"; shift 2 ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "network-failover.sh needs root (network namespaces)" >&2; exit 2; }
. scripts/lib/apt.sh
. scripts/lib/nginx.sh
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v iptables >/dev/null || missing+=(iptables)
command -v ip >/dev/null || missing+=(iproute2)
[ ${#missing[@]} -eq 0 ] || apt_install --no-install-recommends "${missing[@]}"
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
if [ -z "$server" ]; then
    swift build -c release --product mcdropout-serve >&2
    server=.build/release/mcdropout-serve
fi
server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"

tag="mcd$$"
front="$tag-front" hosts=("$tag-r0" "$tag-r1")
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    # Whatever else still runs in the namespaces (a namespace outlives its deletion while a process is in it).
    for ns in "$front" "${hosts[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    done
    wait 2>/dev/null || true
    for ns in "$front" "${hosts[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

ip netns add "$front"
in_ns "$front" ip link set lo up
for i in 0 1; do
    ip netns add "${hosts[$i]}"
    in_ns "${hosts[$i]}" ip link set lo up
    ip link add "f$i-$tag" netns "$front" type veth peer name "r$i-$tag" netns "${hosts[$i]}"
    in_ns "$front" ip addr add "10.231.$i.1/24" dev "f$i-$tag"
    in_ns "$front" ip link set "f$i-$tag" up
    in_ns "${hosts[$i]}" ip addr add "10.231.$i.2/24" dev "r$i-$tag"
    in_ns "${hosts[$i]}" ip link set "r$i-$tag" up
    # Not through in_ns: $! must be the server itself (ip and nice exec it), not a subshell, for the cleanup's kill.
    ip netns exec "${hosts[$i]}" nice "$server" --host "10.231.$i.2" --port 8081 --threads 1 \
        --model "$root/models/mnist.safetensors" --log-level warning >"$work/replica-$i.log" 2>&1 &
    pids+=($!)
done
for i in 0 1; do
    for _ in $(seq 100); do
        in_ns "$front" curl -fs "http://10.231.$i.2:8081/v2/health/ready" >/dev/null 2>&1 && continue 2
        sleep 0.1
    done
    echo "replica $i did not become ready" >&2; cat "$work/replica-$i.log" >&2; exit 1
done

# The shipped config with the replicas' addresses and the listener replaced (nothing else is changed).
nginx_configure "$config" "$work" 10.231.0.2:8081 10.231.1.2:8081 127.0.0.1:8080
in_ns "$front" "$nginx" -t -p "$work" -c "$work/nginx.conf" 2>&1 | sed 's/^/nginx -t: /' >&2
in_ns "$front" "$nginx" -p "$work" -c "$work/nginx.conf"
for _ in $(seq 50); do
    in_ns "$front" curl -fs http://127.0.0.1:8080/v2/health/ready >/dev/null 2>&1 && break
    sleep 0.1
done

now() { date +%s.%N; }
duration=$((phase * 5))
echo "load: wrk, $connections connections, ${duration} s, through nginx to replicas in namespaces r0 and r1" >&2
in_ns "$front" nice wrk -t 1 -c "$connections" -d "${duration}s" --timeout 30s -s scripts/lib/wrk.lua \
    http://127.0.0.1:8080/predict >"$work/wrk.txt" 2>&1 &
load=$!
t0="$(now)"
sleep "$phase"
t_cut="$(now)"
in_ns "${hosts[0]}" ip link set "r0-$tag" down
echo "$(date -u +%T) r0's link down" >&2
sleep "$phase"
in_ns "${hosts[0]}" ip link set "r0-$tag" up
t_up="$(now)"
echo "$(date -u +%T) r0's link up" >&2
sleep "$phase"
t_degrade="$(now)"
if in_ns "$front" tc qdisc add dev "f1-$tag" root netem loss 10% delay 50ms 10ms 2>/dev/null; then
    in_ns "${hosts[1]}" tc qdisc add dev "r1-$tag" root netem loss 10% delay 50ms 10ms
    degradation="netem: 10 % loss, 50 ms ± 10 ms delay, both directions"
else
    for side in "$front f1-$tag" "${hosts[1]} r1-$tag"; do
        set -- $side
        in_ns "$1" iptables -A OUTPUT -o "$2" -m statistic --mode random --probability 0.1 -j DROP
        in_ns "$1" tc qdisc add dev "$2" root tbf rate 2mbit burst 32kbit latency 200ms
    done
    degradation="no netem in this kernel: 10 % loss (iptables statistic) and 2 Mbit/s (tbf), both directions"
fi
echo "$(date -u +%T) r1's link degraded ($degradation)" >&2
sleep "$phase"
in_ns "$front" tc qdisc del dev "f1-$tag" root 2>/dev/null || true
in_ns "${hosts[1]}" tc qdisc del dev "r1-$tag" root 2>/dev/null || true
in_ns "$front" iptables -F OUTPUT
in_ns "${hosts[1]}" iptables -F OUTPUT
t_clean="$(now)"
echo "$(date -u +%T) r1's link clean again" >&2
wait "$load"

result="$(grep '^RESULT' "$work/wrk.txt" || echo RESULT)"
field() { echo "$result" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0; }
requests="$(field requests)"
socket_errors=$(($(field connect) + $(field read) + $(field write) + $(field timeout)))
non200=$((requests - $(field status_200)))
# Log lines: time|status|upstream addresses (", "-separated when nginx failed over)|their statuses|seconds.
# 499 = the client closed the connection: wrk's in-flight requests when its duration ends (at most one each).
nginx_failed="$(awk -F'|' '$2 != 200 && $2 != 499' "$work/access.log" | wc -l)"
failed_over="$(awk -F'|' '$3 ~ /,/' "$work/access.log" | wc -l)"
recovery="$(awk -F'|' -v up="$t_up" '$1 > up && $3 ~ /10\.231\.0\.2:8081$/ && $4 ~ /200$/ { print $1 - up; exit }' \
    "$work/access.log")"
phase_stats() { # FROM TO NAME: requests, share served by r0, p50/p99/max of nginx's request time
    awk -F'|' -v from="$1" -v to="$2" '$1 >= from && $1 < to { print $5, ($3 ~ /10\.231\.0\.2:8081$/) }' \
        "$work/access.log" | sort -n | awk -v name="$3" -v span="$(awk -v a="$1" -v b="$2" 'BEGIN { print b - a }')" '
        { t[++n] = $1; r0 += $2 }
        END { if (n == 0) { printf "  %-12s no requests\n", name; exit }
              printf "  %-12s %6d requests, %6.1f/s; r0 served %5.1f %%; p50 %6.1f ms, p99 %7.1f ms, max %7.1f ms\n",
                  name, n, n / span, 100 * r0 / n, 1000 * t[int(n * 0.5) + 1], 1000 * t[int(n * 0.99) + 1],
                  1000 * t[n] }'
}
echo "phases (by the time nginx logged each request):"
phase_stats "$t0" "$t_cut" "steady"
phase_stats "$t_cut" "$t_up" "r0 cut"
phase_stats "$t_up" "$t_degrade" "r0 back"
phase_stats "$t_degrade" "$t_clean" "r1 degraded"
phase_stats "$t_clean" "$(now)" "clean again"
[ "$failed_over" -gt 0 ] && { echo "requests nginx failed over (time|status|upstreams|their statuses|seconds):"
    awk -F'|' '$3 ~ /,/' "$work/access.log" | head -8 | sed 's/^/  /'; }
[ "$nginx_failed" -gt 0 ] && { echo "requests that failed at nginx:"
    awk -F'|' '$2 != 200 && $2 != 499' "$work/access.log" | head -8 | sed 's/^/  /'; }
failed=$((non200 + socket_errors))
printf '{"requests": %s, "failed": %d, "wrk_socket_errors": %d, "nginx_failed": %s, "nginx_failed_over": %s, ' \
    "$requests" "$failed" "$socket_errors" "$nginx_failed" "$failed_over"
printf '"recovery_seconds": %s, "degradation": "%s", "load_average": "%s"}\n' "${recovery:-null}" "$degradation" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
[ "$failed" -eq 0 ] && [ "$nginx_failed" -eq 0 ] || { echo "FAIL: $failed failed requests" >&2; status=1; }
[ -n "$recovery" ] && awk -v r="$recovery" 'BEGIN { exit !(r <= 5) }' ||
    { echo "FAIL: r0 served nothing within 5 s of its link's return" >&2; status=1; }
exit "$status"

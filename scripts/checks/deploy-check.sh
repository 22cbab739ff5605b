#!/usr/bin/env bash
# Usage: scripts/checks/deploy-check.sh [--crd-dir KSERVE_CHECKOUT/config/crd/full] [--server BINARY]
# Lints and validates everything in deploy/ without a cluster, a Docker engine or a running systemd:
#   hadolint deploy/Dockerfile; kubernetes-validate --strict on the Kubernetes manifests; scripts/checks/kserve-check.py
#   on the KServe ServingRuntime and InferenceService (consistency, options, embedded containers; CRD schemas with
#   --crd-dir; with a built server — --server, default .build/release/mcdropout-serve when it exists — the runtime's
#   args and env run for real); systemd-analyze verify and an offline security review of the systemd unit; nginx -t on
#   the nginx config; body limits consistent between nginx and the server; scripts/checks/monitoring-check.py on
#   deploy/monitoring (promtool check rules + test rules on the PrometheusRule, the Grafana dashboard's structure and
#   queries against a real /metrics scrape of the built server, release or else debug). Installs hadolint and
#   kubernetes-validate into the project venv (scripts/python/requirements-deploy.txt), nginx-light and prometheus
#   (for promtool) with apt when missing. Fast (seconds): it builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/apt.sh
kserve_args=()
server=.build/release/mcdropout-serve
while [ $# -gt 0 ]; do
    case "$1" in
        --crd-dir) kserve_args+=(--crd-dir "$2"); shift 2 ;;
        --server) server="$2"; shift 2 ;;
        *) sed -n '2,/^[^#]/{/^#/p}' "$0" >&2; exit 2 ;;
    esac
done
# With a built server, the KServe check also runs it with the ServingRuntime's args and env.
[ -x "$server" ] && kserve_args+=(--server "$server")

python="$(scripts/python/python-env.sh scripts/python/requirements-test.txt scripts/python/requirements-deploy.txt)"
venv_bin="$(dirname "$python")"
passed=0
failed=0
step() {  # step NAME COMMAND...: runs COMMAND, counts the result
    local name="$1"; shift
    echo "== $name" >&2
    if "$@"; then passed=$((passed + 1)); echo "   ok: $name" >&2
    else failed=$((failed + 1)); echo "   FAILED: $name" >&2; fi
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "hadolint deploy/Dockerfile" "$venv_bin/hadolint" deploy/Dockerfile

kubernetes_validate() {
    local output
    local manifests=() manifest
    for manifest in deploy/kubernetes/*.yaml; do
        [ "$(basename "$manifest")" = kustomization.yaml ] && continue
        manifests+=("$manifest")
        # kubectl apply -k must apply every manifest.
        grep -qx "  - $(basename "$manifest")" deploy/kubernetes/kustomization.yaml \
            || { echo "$manifest is missing from kustomization.yaml" >&2; return 1; }
    done
    output="$("$venv_bin/kubernetes-validate" --strict "${manifests[@]}" 2>&1)" || { echo "$output" >&2; return 1; }
    echo "$output" >&2
    ! grep -qE '^(WARN|ERROR)' <<<"$output"
}
step "kubernetes-validate --strict deploy/kubernetes" kubernetes_validate
step "KServe ServingRuntime + InferenceService" \
    env PATH="$venv_bin:$PATH" "$python" scripts/checks/kserve-check.py "${kserve_args[@]}"

systemd_verify() {
    # A throw-away root: the unit, the units it refers to, and stand-ins for the executables it names.
    local root="$work/root" output
    install -D -m 0644 deploy/systemd/mcdropout.service "$root/etc/systemd/system/mcdropout.service"
    mkdir -p "$root/usr/lib/systemd"
    cp -a /lib/systemd/system "$root/usr/lib/systemd/"
    local unit=deploy/systemd/mcdropout.service
    for executable in $(grep -oE '^Exec[A-Za-z]*=[-@:+!]*/[^ ]+' "$unit" | sed 's/^[^/]*//'); do
        install -D -m 0755 /dev/null "$root$executable"
    done
    output="$(systemd-analyze verify --root="$root" mcdropout.service 2>&1)" || { echo "$output" >&2; return 1; }
    [ -z "$output" ] || { echo "$output" >&2; return 1; }  # verify warns (unknown keys, ...) but exits 0
    echo "   systemd-analyze verify: no findings" >&2
    # Exposure 0 (locked down) ... 10 (unsafe); fail above 2.0.
    systemd-analyze security --offline=yes --root="$root" --threshold=20 mcdropout.service 2>&1 | tail -1 >&2
}
if command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify + security deploy/systemd/mcdropout.service" systemd_verify
else
    echo "== systemd-analyze not installed: skipping the systemd unit (apt-get install systemd)" >&2
fi

nginx_test() {
    local nginx
    nginx="$(command -v nginx || echo /usr/sbin/nginx)"
    [ -x "$nginx" ] || apt_install --no-install-recommends nginx-light
    mkdir -p "$work/nginx"
    sed 's/^    listen 8080;/    listen 127.0.0.1:8080;/' deploy/nginx/mcdropout.conf >"$work/nginx/mcdropout.conf"
    printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp { include %s/mcdropout.conf; }\n' \
        "$work/nginx" "$work/nginx" >"$work/nginx/nginx.conf"
    "$nginx" -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
}
step "nginx -t deploy/nginx/mcdropout.conf" nginx_test

body_limits() {
    # nginx's client_max_body_size must equal the replicas' --max-body-bytes (ConfigMap), so 413s come from one place.
    local nginx_limit server_limit
    nginx_limit="$(awk '/client_max_body_size/ {gsub(";", "", $2); print $2}' deploy/nginx/mcdropout.conf)"
    case "$nginx_limit" in
        *m) nginx_limit=$(( ${nginx_limit%m} * 1048576 )) ;;
        *k) nginx_limit=$(( ${nginx_limit%k} * 1024 )) ;;
    esac
    server_limit="$(awk -F'"' '/MCDROPOUT_MAX_BODY_BYTES/ {print $2}' deploy/kubernetes/configmap.yaml)"
    echo "   nginx client_max_body_size $nginx_limit bytes, MCDROPOUT_MAX_BODY_BYTES $server_limit" >&2
    [ "$nginx_limit" = "$server_limit" ]
}
step "body size limit consistent (nginx, ConfigMap)" body_limits

monitoring_check() {
    # promtool comes with Debian's prometheus package; the scrape needs a built server (release, else debug).
    command -v promtool >/dev/null || apt_install --no-install-recommends prometheus
    local binary="$server" args=()
    [ -x "$binary" ] || binary=.build/debug/mcdropout-serve
    [ -x "$binary" ] && args+=(--server "$binary")
    "$python" scripts/checks/monitoring-check.py "${args[@]}" >&2
}
step "deploy/monitoring: promtool check + test rules, Grafana dashboard against a /metrics scrape" monitoring_check

echo "deploy-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

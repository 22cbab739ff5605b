#!/usr/bin/env bash
# Usage: scripts/checks/docker-steps.sh [STAGING_DIR]
# deploy/Dockerfile's steps without a Docker engine, to prove they work. The build stage is replayed from the
# Dockerfile itself: its COPY lines fill an otherwise empty context (.build-docker/context, which keeps only its build
# cache), and its RUN lines run there (swift package resolve; deploy/build-release.sh: static Swift stdlib, strip,
# model baked in) with /staging replaced by STAGING_DIR (default .build-docker/staging); its apt-get line is
# scripts/lib/install-deps.sh (the same -dev packages). Then the runtime stage's contract:
#   - both stages' apt-get lines install against the current archive (apt-get install -s: nothing pinned that a
#     security update has replaced);
#   - every shared library the binary loads resolves, and each belongs to a Debian package in the closure of the
#     runtime stage's apt-get line (libopenblas0, libmicrohttpd12, libgrpc29, libstdc++6 and their Depends) or to
#     libc6/libgcc-s1 — nothing from the Swift toolchain;
#   - the binary runs from STAGING_DIR with the image's environment (MCDROPOUT_* as in the Dockerfile's ENV, an empty
#     LD_LIBRARY_PATH, as the unprivileged user "nobody" when run as root), answers the HEALTHCHECK command (bash
#     /dev/tcp, copied from the Dockerfile) and a prediction, and exits 0 on SIGTERM.
# Also lints the Dockerfile with hadolint when the project venv has it (scripts/checks/deploy-check.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
staging="${1:-.build-docker/staging}"
dockerfile=deploy/Dockerfile

scripts/lib/install-deps.sh  # the build stage's apt-get line: the same -dev packages
# Replay the build stage (the lines after the first FROM, up to the next): COPY into a context directory that starts
# empty but for the build cache (so a file the Dockerfile forgets to copy breaks this build too), RUN the rest there.
context=.build-docker/context
mkdir -p "$context"
find "$context" -mindepth 1 -maxdepth 1 ! -name .build -exec rm -rf {} +
rm -rf "$staging"
mkdir -p "$staging"
staging="$(cd "$staging" && pwd)"
# The Dockerfile's instructions, one logical line each (continuations joined, comments dropped), as
# "STAGE<tab>INSTRUCTION<tab>ARGUMENTS" with STAGE counting FROM lines (1 = build, 2 = runtime).
dockerfile_instructions() {
    python3 - "$dockerfile" <<'PY'
import sys
current, stage = "", 0
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.lstrip().startswith("#"):
        continue
    current += line[:-1] + " " if line.endswith("\\") else line
    if line.endswith("\\"):
        continue
    words = current.split()
    current = ""
    if not words:
        continue
    if words[0] == "FROM":
        stage += 1
    print(f"{stage}\t{words[0]}\t{' '.join(words[1:])}")
PY
}
while IFS=$'\t' read -r instruction arguments; do
    case "$instruction" in
        COPY)
            read -r -a parts <<<"$arguments"
            destination="${parts[-1]}"
            for source in "${parts[@]:0:${#parts[@]}-1}"; do
                echo "COPY $source -> $destination" >&2
                [[ "$destination" == */ ]] && mkdir -p "$context/$destination"
                cp -a "$source" "$context/$destination"
            done ;;
        RUN)
            if grep -q 'apt-get' <<<"$arguments"; then continue; fi
            echo "RUN ${arguments//\/staging/$staging}" >&2
            (cd "$context" && nice bash -c "${arguments//\/staging/$staging}") >&2 ;;
    esac
done < <(dockerfile_instructions | awk -F'\t' '$1 == 1 && ($2 == "COPY" || $2 == "RUN") {print $2 "\t" $3}')
binary="$staging/bin/mcdropout-serve"
ls -l "$binary" "$staging/models/mnist.safetensors" >&2

echo "== apt-get lines against the current archive" >&2
# Each stage's apt-get install line, read from the Dockerfile, simulated with `apt-get install -s` against the archive
# this machine sees (run `apt-get update` first): a pin or a package that cannot install today fails here, not in a
# user's docker build.
stage_packages() {  # $1: stage number (1 = build, 2 = runtime) -> the package names on its apt-get install line
    dockerfile_instructions | awk -F'\t' -v stage="$1" '$1 == stage && $2 == "RUN" && /apt-get install/ {print $3}' |
        sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | tr '\n' ' ' | sed 's/ $//'
}
for stage in 1 2; do
    packages="$(stage_packages "$stage")"
    if apt-get install -s -y --no-install-recommends $packages >/dev/null 2>"$staging.apt.err"; then
        echo "stage $stage: apt-get install $packages: installable" >&2
    else
        cat "$staging.apt.err" >&2; rm -f "$staging.apt.err"
        echo "FAIL: stage $stage's apt-get line does not install against the current archive" >&2; exit 1
    fi
    rm -f "$staging.apt.err"
done

echo "== runtime closure" >&2
# The runtime stage's packages, read from the Dockerfile's apt-get line after the last FROM.
runtime_packages="$(stage_packages 2)"
echo "runtime stage installs: $runtime_packages" >&2
allowed="$( { echo libc6; echo libgcc-s1; echo $runtime_packages | tr ' ' '\n'
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
        $runtime_packages 2>/dev/null | grep -v '^ ' ; } | sed 's/:.*//' | sort -u)"
status=0
if ldd "$binary" | grep -q 'not found'; then ldd "$binary" >&2; echo "FAIL: unresolved libraries" >&2; status=1; fi
while read -r library path; do
    owner="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    [ -n "$owner" ] || owner="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 || true)"
    if [ -n "$owner" ] && grep -qx "$owner" <<<"$allowed"; then
        printf '  %-28s %-48s %s\n' "$library" "$path" "$owner" >&2
    else
        printf '  %-28s %-48s %s  <- not in the runtime image\n' "$library" "$path" "${owner:-no package}" >&2
        status=1
    fi
done < <(ldd "$binary" | awk '$2 == "=>" {print $1, $3}')
[ "$status" -eq 0 ] || { echo "FAIL: the binary needs libraries the runtime stage does not install" >&2; exit 1; }

echo "== run as the image would" >&2
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
healthcheck="$(grep -oE 'exec 3<>/dev/tcp[^"]*' "$dockerfile" | sed 's/\\\\/\\/g')"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    chmod -R a+rX "$staging"
    run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
(cd "$staging" && exec env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= OPENBLAS_NUM_THREADS=1 MCDROPOUT_HOST=127.0.0.1 \
    MCDROPOUT_PORT="$port" MCDROPOUT_MODEL="$staging/models/mnist.safetensors" "${run_as[@]}" "$binary" >"$log" 2>&1) &
pid=$!
for _ in $(seq 100); do
    MCDROPOUT_PORT="$port" bash -c "$healthcheck" 2>/dev/null && break
    sleep 0.1
done
MCDROPOUT_PORT="$port" bash -c "$healthcheck" || { cat "$log" >&2; echo "FAIL: HEALTHCHECK command failed" >&2; exit 1; }
echo "HEALTHCHECK command: healthy" >&2
answer="$(curl -fsS "http://127.0.0.1:$port/predict" -d @examples/mnist-test-0000-label-7.json)"
echo "predict: ${answer:0:120}..." >&2
grep -q '"prediction":7' <<<"$answer" || { echo "FAIL: wrong prediction" >&2; exit 1; }
echo "running as: $(ps -o user=,args= -p "$pid")" >&2
kill -TERM "$pid"
exit_status=0
wait "$pid" || exit_status=$?
[ "$exit_status" -eq 0 ] || { cat "$log" >&2; echo "FAIL: exit status $exit_status after SIGTERM" >&2; exit 1; }
echo "SIGTERM: drained and exited 0" >&2

if [ -x "$root/.venv/bin/hadolint" ]; then
    "$root/.venv/bin/hadolint" "$dockerfile" && echo "hadolint $dockerfile: clean" >&2
fi
echo "docker-steps: build stage and runtime contract OK ($(du -sh "$staging" | cut -f1) staged)" >&2

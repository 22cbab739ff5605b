#!/usr/bin/env bash
# Usage: scripts/checks/demo-check.sh [--release] [--screenshot]
# Tests the browser demo (GET /) in headless Chromium against a live mcdropout-serve on a free loopback port:
#   1. a shipped test digit (?example=…&seed=…&run=1): the page must finish its request, and the prediction,
#      probabilities ± standard deviations, entropies and mutual information it shows must equal the numbers
#      POST /predict returns for the same pixels, N and seed;
#   2. a digit drawn on the canvas through the pointer-drawing code (?draw=7) and downsampled in the page (bounding
#      box → 20×20 → centre of mass) must round-trip and be read as a 7;
#   3. against a server with --api-key-file: without a key the page asks for one in its API key field; with the key
#      in that field it predicts, and a 53-bit seed (the largest allowed) reaches the server and comes back exactly.
# --screenshot also writes docs/demo.png (an out-of-distribution Fashion-MNIST image, where the spread shows).
# Installs Debian's chromium with apt when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

configuration=debug
screenshot=false
for argument in "$@"; do
    case "$argument" in
        --release) configuration=release ;;
        --screenshot) screenshot=true ;;
        *) echo "usage: scripts/checks/demo-check.sh [--release] [--screenshot]" >&2; exit 2 ;;
    esac
done

. scripts/lib/apt.sh
command -v chromium >/dev/null || apt_install chromium

swift build -c "$configuration" --product mcdropout-serve >&2
work="$(mktemp -d)"
SERVE=".build/$configuration/mcdropout-serve"
SERVER_TOOLS=""
. scripts/lib/server.sh
trap 'serve_stop; rm -rf "$work"' EXIT
serve_start "$work/stderr" --model models/mnist.safetensors --log-level warning
base="$BASE"

# Headless, as root in CI (hence --no-sandbox), with a throw-away profile. Virtual time runs the page's scripts and
# fetches to completion (or 15 s of page time) before the DOM is dumped.
browse() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$work/profile" --virtual-time-budget=15000 --window-size=1100,720 "$@" 2>>"$work/chromium.log"
}

browse --dump-dom "$base/?example=mnist-test-0000-label-7&samples=100&seed=42&run=1" >"$work/example.html"
browse --dump-dom "$base/?draw=7&samples=100&seed=1&run=1" >"$work/drawn.html"

python3 - "$base" "$work/example.html" "$work/drawn.html" <<'PY'
import html, json, re, sys, urllib.request

base, example_path, drawn_path = sys.argv[1:4]

def page(path):
    text = open(path, encoding="utf-8").read()
    state = re.search(r'<body[^>]*data-state="([a-z]+)"', text)
    error = re.search(r'<div id="error"[^>]*>(.*?)</div>', text, re.S)
    if not state or state.group(1) != "done":
        sys.exit(f"demo-check: {path}: the page did not finish a prediction (state {state and state.group(1)}, "
                 f"error {error and html.unescape(error.group(1))!r})")
    return text

def shown(text, element_id):
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', text)
    if not match:
        sys.exit(f"demo-check: no #{element_id} in the page")
    return html.unescape(match.group(1)).strip()

def close(displayed, actual):
    """The page shows 4 decimals, or 3 significant digits below 1e-3."""
    value = float(displayed)
    return abs(value - actual) <= (max(abs(actual) * 6e-3, 1e-12) if abs(actual) < 1e-3 else 5.1e-5)

# 1. A shipped test digit: the page's numbers are the API's numbers for the same request.
text = page(example_path)
pixels = json.load(open("examples/mnist-test-0000-label-7.json"))["pixels"]
request = urllib.request.Request(base + "/predict", json.dumps({"pixels": pixels, "samples": 100, "seed": 42}).encode(),
                                 {"Content-Type": "application/json"})
expected = json.load(urllib.request.urlopen(request, timeout=30))
verdict = shown(text, "verdict")
if not verdict.startswith(f"Prediction: {expected['label']} "):
    sys.exit(f"demo-check: the page says {verdict!r}; the API predicts {expected['label']}")
for element_id, key in [("predictive-entropy", "predictive_entropy"), ("expected-entropy", "expected_entropy"),
                        ("mutual-information", "mutual_information")]:
    if not close(shown(text, element_id), expected[key]):
        sys.exit(f"demo-check: #{element_id} shows {shown(text, element_id)}, the API says {expected[key]}")
if shown(text, "samples-used") != f"100 · {expected['seed']}":
    sys.exit(f"demo-check: #samples-used shows {shown(text, 'samples-used')!r}")
rows = re.findall(r'<div class="value[^"]*">([^<]*)</div>', text)
if len(rows) != len(expected["probabilities"]):
    sys.exit(f"demo-check: {len(rows)} probability rows, expected {len(expected['probabilities'])}")
for index, (row, probability, variance) in enumerate(zip(rows, expected["probabilities"], expected["variance"])):
    mean, deviation = (part.strip() for part in html.unescape(row).split("±"))
    if not (close(mean, probability) and close(deviation, variance ** 0.5)):
        sys.exit(f"demo-check: class {index} shows {row!r}; the API says {probability} ± {variance ** 0.5}")
print(f"demo-check: example digit: page and API agree ({verdict}, mutual information "
      f"{shown(text, 'mutual-information')})", file=sys.stderr)

# 2. A digit drawn with the pointer code and downsampled in the browser.
text = page(drawn_path)
verdict = shown(text, "verdict")
if not verdict.startswith("Prediction: 7 "):
    sys.exit(f"demo-check: a drawn 7 was read as {verdict!r}: the canvas downsampling is off")
print(f"demo-check: drawn digit: {verdict}, mutual information {shown(text, 'mutual-information')}", file=sys.stderr)
PY

# 3. A server with API keys: without a key the page says where to enter one; with the key in the field (filled here
#    from the #api-key fragment, which never reaches the server) it predicts, and a 53-bit seed (the largest allowed) arrives exactly.
key="demo-check-key-$RANDOM$RANDOM$RANDOM"
printf '%s\n' "$key" >"$work/keys"
first_pid="$SERVER_PID"
serve_start "$work/stderr-keys" --model models/mnist.safetensors --log-level warning --api-key-file "$work/keys"
keyed_pid="$SERVER_PID"
browse --dump-dom "$BASE/?example=mnist-test-0000-label-7&samples=10&seed=9007199254740991&run=1" \
    >"$work/no-key.html"
browse --dump-dom "$BASE/?example=mnist-test-0000-label-7&samples=10&seed=9007199254740991&run=1#api-key=$key" \
    >"$work/key.html"
SERVER_PID="$keyed_pid"; serve_stop; SERVER_PID="$first_pid"
python3 - "$work/no-key.html" "$work/key.html" <<'PY'
import html, re, sys
def read(path):
    text = open(path, encoding="utf-8").read()
    state = re.search(r'<body[^>]*data-state="([a-z]+)"', text)
    error = re.search(r'<div id="error"[^>]*>(.*?)</div>', text, re.S)
    return text, state and state.group(1), html.unescape(error.group(1)) if error else ""
text, state, refused = read(sys.argv[1])
if state != "error" or "API key field" not in refused:
    sys.exit(f"demo-check: without a key the page should ask for one; state {state!r}, error {refused!r}")
text, state, error = read(sys.argv[2])
if state != "done":
    sys.exit(f"demo-check: with the API key the page did not predict: state {state!r}, error {error!r}")
used = re.search(r'id="samples-used"[^>]*>([^<]*)<', text)
if not used or html.unescape(used.group(1)).strip() != "10 · 9007199254740991":
    sys.exit(f"demo-check: #samples-used shows {used and used.group(1)!r}, not the largest seed, 2^53 - 1")
print(f"demo-check: API key: asked for without one ({refused[:50]}…), predicts with it; seed 2^53 - 1 exact",
      file=sys.stderr)
PY

if $screenshot; then
    mkdir -p docs
    browse --screenshot="$work/demo.png" "$base/?example=fashion-mnist-test-0001-label-2&samples=200&seed=1&run=1" >/dev/null
    cp "$work/demo.png" docs/demo.png
    echo "demo-check: wrote docs/demo.png" >&2
fi
echo "demo-check: passed" >&2

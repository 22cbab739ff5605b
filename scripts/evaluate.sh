#!/usr/bin/env bash
# Usage: scripts/evaluate.sh [--write-threshold] [--rerun-deep] [--quick] [--regression-only]
# Regenerates docs/evaluation/ in one go: evaluates models/{mnist,fashion-mnist}.safetensors (dropout off vs MC at
# N = 1, 3, 10, 30, 100, 1000 — N = 1000 on the first 1000 images of each set — OOD detection against the other
# data set, selective prediction, adaptive "auto" sampling vs N = 100), runs the seeds' experiments, the regression
# benchmark on scikit-learn's bundled diabetes set against a same-run PyTorch reference, then draws the SVG figures
# and writes EVALUATION.md.
#   --write-threshold  also store each model's recommended threshold in its metadata (rewrites models/*.safetensors;
#                      `mcdropout-eval set-threshold --model M --from docs/evaluation/NAME.json` does it afterwards)
#   --rerun-deep       retrain the 784-512x4-10 experiment (a few minutes) instead of reusing its JSON
#   --quick            first 1000 images only and skip training experiments whose JSON exists (for trying changes)
#   --regression-only  only the regression benchmark (about a minute), then the report from the JSON already there
# Environment: MODEL_DIR (default models), THREADS (BLAS threads, default 1). Needs data/ (scripts/fetch-data.sh);
# the regression benchmark installs scikit-learn and torch into .venv (without torch it reports ours only).
set -euo pipefail
cd "$(dirname "$0")/.."

write_threshold=()
rerun_deep=0
quick=0
regression_only=0
script_arguments="$*"
for argument in "$@"; do
    case "$argument" in
        --write-threshold) write_threshold=(--write-threshold) ;;
        --rerun-deep) rerun_deep=1 ;;
        --quick) quick=1 ;;
        --regression-only) regression_only=1 ;;
        *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done

swift build -c release --product mcdropout-eval
eval_command=.build/release/mcdropout-eval
out=docs/evaluation
threads="${THREADS:-1}"
limit=()
[ "$quick" = 1 ] && limit=(--limit 1000)
mkdir -p "$out/experiments"

# Regression (issue 15): both heads, ours and PyTorch's, on the same splits of the diabetes set. Its CSV comes from
# the scikit-learn wheel (nothing downloaded at run time); torch is best-effort, and the report says when it is absent.
if [ ! -f data/tabular/diabetes.csv ]; then
    tabular_python="$(scripts/python/python-env.sh scripts/python/requirements-tabular.txt)"
    "$tabular_python" scripts/python/export_tabular_datasets.py data/tabular
fi
if reference_python="$(scripts/python/python-env.sh scripts/python/requirements-tabular.txt \
    scripts/python/requirements-torch.txt)"; then
    export MCDROPOUT_PYTHON="$reference_python"
else
    echo "PyTorch could not be installed: the regression benchmark runs without its reference" >&2
fi
"$eval_command" regression --csv data/tabular/diabetes.csv --target progression --output-dir "$out"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
machine="$cpu, $(nproc) cores, $(uname -sr), $(swift --version 2>/dev/null | head -1 | sed 's/ (.*//'), $threads BLAS thread(s)"
notes=()
[ -f "$out/NOTES.md" ] && notes=(--notes "$out/NOTES.md")
report_command="scripts/evaluate.sh${script_arguments:+ $script_arguments}"
[ "$regression_only" = 1 ] && report_command+=" (the regression section; the others from the last full run's JSON)"
write_report() {
    "$eval_command" report --directory "$out" --command "$report_command" --machine "$machine" "${notes[@]}"
}
if [ "$regression_only" = 1 ]; then
    write_report  # the other sections from the JSON already in $out
    exit 0
fi

for dataset in mnist fashion-mnist; do
    model="${MODEL_DIR:-models}/$dataset.safetensors"
    if [ ! -f "$model" ]; then
        echo "skipping $dataset: $model not found" >&2
        continue
    fi
    "$eval_command" evaluate --model "$model" --sample-counts 1,3,10,30,100,1000 --main-samples 100 \
        --large-samples-from 1000 --large-samples-limit 1000 --threads "$threads" --output-dir "$out" --force \
        --compare-adaptive \
        "${limit[@]}" "${write_threshold[@]}"
done

run_experiment() {
    local name="$1"; shift
    if [ "$quick" = 1 ] && [ -f "$out/experiments/$name.json" ]; then return; fi
    "$eval_command" experiment "$name" --threads "$threads" --output-dir "$out" --force "$@"
}
run_experiment overfitting
run_experiment small-net
if [ "$rerun_deep" = 1 ] || [ ! -f "$out/experiments/deep.json" ]; then
    "$eval_command" experiment deep --threads "$threads" --output-dir "$out" --force
else
    echo "reusing $out/experiments/deep.json (pass --rerun-deep to retrain)" >&2
fi
if [ -f "${MODEL_DIR:-models}/mnist.safetensors" ]; then
    run_experiment mc-vs-scaling --model "${MODEL_DIR:-models}/mnist.safetensors"
fi

# The shift and OOD benchmark (issue 12): rotated test images, the other data set, uniform noise.
for dataset in mnist fashion-mnist; do
    model="${MODEL_DIR:-models}/$dataset.safetensors"
    [ -f "$model" ] || continue
    shift_limit=2000
    [ "$dataset" = fashion-mnist ] && shift_limit=1000  # 4× the per-pass cost of the MNIST model
    [ "$quick" = 1 ] && shift_limit=200
    "$eval_command" shift --model "$model" --limit "$shift_limit" --threads "$threads" --output-dir "$out"
done

write_report

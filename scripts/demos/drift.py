"""Drive a running mcdropout-serve through input drift and print what its /metrics shows, phase by phase.

Usage: drift.py --url URL [--data DIR] [--per-phase N] [--mix 0,10,30,60,100] [--samples N] [--batch N]
  (scripts/demos/drift.sh starts the server and runs this; standard library only)

Each phase sends --per-phase MNIST test images, of which the --mix percentage are replaced by Fashion-MNIST test
images (clothes the digit model never saw), in /predict batches and KServe V2 infer requests alike, every request
with its own seed so a rerun sends the same bytes. After each phase it scrapes /metrics and prints, from the
difference to the previous scrape only (what `rate()` sees in Prometheus): the share of predictions the model's
stored rule flagged (and whether that is above the PrometheusRule's alert threshold, twice the rule's validation
flag rate), the mean mutual information and reconstruction error, and a histogram of one score.
"""
import argparse
import gzip
import json
import random
import re
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def read_images(path: Path) -> list:
    data = gzip.decompress(path.read_bytes())
    count, rows, columns = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    size = rows * columns
    return [list(data[16 + i * size:16 + (i + 1) * size]) for i in range(count)]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def scrape(url: str, model: str) -> dict:
    """{(name, frozenset(labels)): value} for the model's drift series."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"(mcdropout_(?:prediction_score|predictions|model_expected)_\w+)\{(.*)\} (\S+)$", line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
        if labels.pop("model", None) == model:
            samples[(match.group(1), frozenset(labels.items()))] = float(match.group(3))
    return samples


def delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def buckets(after: dict, before: dict, score: str) -> list:
    """[(upper bound, count in this bucket alone)] for the phase, from the cumulative bucket counters."""
    bounds = sorted(
        (float(dict(labels)["le"]), dict(labels)["le"]) for name, labels in after
        if name == "mcdropout_prediction_score_bucket" and dict(labels).get("score") == score)
    result, previous = [], 0.0
    for value, text in bounds:
        cumulative = delta(after, before, "mcdropout_prediction_score_bucket", score=score, le=text)
        result.append((value, cumulative - previous))
        previous = cumulative
    return result


def main() -> None:
    parser = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1].split("\n  (")[0][len("Usage: "):])
    parser.add_argument("--url", required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--per-phase", type=int, default=400)
    parser.add_argument("--mix", default="0,10,30,60,100", help="percent Fashion-MNIST per phase")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--histogram", default="mutual_information", help="the score whose histogram is printed")
    args = parser.parse_args()

    digits = read_images(args.data / "mnist" / "t10k-images-idx3-ubyte.gz")
    clothes = read_images(args.data / "fashion-mnist" / "t10k-images-idx3-ubyte.gz")
    generator = random.Random(2026)
    generator.shuffle(digits)
    generator.shuffle(clothes)
    mixes = [int(m) for m in args.mix.split(",")]
    print(f"model {args.model} at {args.url}: {args.per_phase} test images per phase, N = {args.samples}, "
          f"/predict batches and V2 infer requests of {args.batch}")
    before = scrape(args.url, args.model)
    expected = before.get(("mcdropout_model_expected_flagged_ratio", frozenset()))
    if expected is not None:
        print(f"its rule flagged {100 * expected:.1f} % of the validation images "
              "(mcdropout_model_expected_flagged_ratio);")
        print(f"the PrometheusRule alerts when more than twice that, {200 * expected:.1f} %, "
              "are flagged for 10 minutes")
    print("phase  Fashion  predictions  flagged  mean mutual_information  mean reconstruction_error  > 2×")
    histograms = []
    seed = 0
    for phase, mix in enumerate(mixes, start=1):
        fashion = args.per_phase * mix // 100
        images = [clothes.pop() for _ in range(fashion)] + [digits.pop() for _ in range(args.per_phase - fashion)]
        generator.shuffle(images)
        for start in range(0, len(images), args.batch):
            chunk = images[start:start + args.batch]
            seed += 1
            if (start // args.batch) % 2 == 0:
                post(f"{args.url}/predict", {"instances": chunk, "samples": args.samples, "seed": seed})
            else:
                post(f"{args.url}/v2/models/{args.model}/infer", {
                    "inputs": [{"name": "pixels", "shape": [len(chunk), 784], "datatype": "UINT8",
                                "data": [p for image in chunk for p in image]}],
                    "parameters": {"samples": args.samples, "seed": seed}})
        after = scrape(args.url, args.model)
        count = delta(after, before, "mcdropout_prediction_score_count", score="mutual_information")
        judged = delta(after, before, "mcdropout_predictions_judged_total")
        flagged = delta(after, before, "mcdropout_predictions_flagged_total")
        mean_mi = delta(after, before, "mcdropout_prediction_score_sum", score="mutual_information") / count
        errors = delta(after, before, "mcdropout_prediction_score_count", score="reconstruction_error")
        mean_error = delta(after, before, "mcdropout_prediction_score_sum", score="reconstruction_error") / errors
        rate = f"{100 * flagged / judged:6.1f} %" if judged else "   n/a  "
        alert = "" if expected is None or not judged else "yes" if flagged / judged > 2 * expected else "no"
        print(f"{phase:5d} {mix:6d} % {int(count):12d} {rate} {mean_mi:24.4f} {mean_error:26.4f}  {alert:>4}")
        histograms.append((mix, buckets(after, before, args.histogram)))
        before = after

    print(f"\n{args.histogram}: share of each phase's predictions per bucket (le = upper bound)")
    bounds = [bound for bound, _ in histograms[0][1]]
    print("  le        " + "".join(f"{f'{mix} % Fashion':>18}" for mix, _ in histograms))
    for index, bound in enumerate(bounds):
        cells = []
        for _, counts in histograms:
            total = sum(c for _, c in counts) or 1
            share = counts[index][1] / total
            cells.append(f"{'#' * round(share * 10):<10} {100 * share:5.1f}%")
        label = "+Inf" if bound == float("inf") else f"{bound:.4g}"
        if any(counts[index][1] for _, counts in histograms):
            print(f"  {label:<9}" + "".join(f"{cell:>18}" for cell in cells))


if __name__ == "__main__":
    main()

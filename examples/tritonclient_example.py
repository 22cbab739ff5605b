"""Ask a running mcdropout server for a Monte-Carlo dropout prediction with NVIDIA's tritonclient (KServe V2 / HTTP).

Usage: tritonclient_example.py [--url localhost:8080] [--model mnist] [--samples 100] [--seed 42] [--noise]
                               [--header NAME=VALUE ...] [IMAGE.json ...]

Start a server first (scripts/serve.sh, or deploy/ for Docker, Kubernetes, KServe, nginx), then:

    pip install 'tritonclient[http]' numpy   # or use "$(scripts/python/python-env.sh)" (the project's venv has both)
    python examples/tritonclient_example.py examples/mnist-test-0000-label-7.json --noise

Each IMAGE.json is one of the shipped test digits ({"pixels": [784 numbers 0-255]}); --noise adds
examples/noise-seed-0.json (uniform random pixels, the same image as the README's curl example), the kind of input
a plain softmax server answers confidently and MC dropout flags. With no
image and no --noise, the five shipped MNIST digits are sent. All images go in one request, as a [B, 784] UINT8
tensor (binary tensor extension); the request parameters "samples" (Monte-Carlo passes N) and "seed" (the dropout
masks: the same seed gives the same answer) are mcdropout's. For each image it prints the predicted class, the mean
probability of every class with its standard deviation across the N passes, the predictive entropy (total
uncertainty), the expected entropy (aleatoric part) and the mutual information (epistemic part: the passes disagree),
all in nats.

--header adds an HTTP header to every request, e.g. the Host header an ingress routes by
(--header Host=mnist.default.example.com, as deploy/README.md describes for KServe) or an API key
(--header "Authorization=Bearer $KEY" for a server started with --api-key-file).
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

EXAMPLES = os.path.dirname(os.path.abspath(__file__))
OUTPUTS = ["prediction", "probabilities", "variance", "predictive_entropy", "expected_entropy", "mutual_information"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="JSON files with a 'pixels' list (784 numbers 0-255)")
    parser.add_argument("--url", default="localhost:8080", help="host:port of the server (no scheme)")
    parser.add_argument("--model", default="mnist", help="model name (the model file's stem)")
    parser.add_argument("--samples", type=int, default=100, help="Monte-Carlo passes")
    parser.add_argument("--seed", type=int, default=42, help="seed of the dropout masks")
    parser.add_argument("--noise", action="store_true", help="also send examples/noise-seed-0.json (random pixels)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                        help="an HTTP header for every request (repeatable), e.g. Host=mnist.default.example.com")
    args = parser.parse_args()
    headers = {}
    for item in args.header:
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            parser.error(f"--header {item!r}: expected NAME=VALUE")
        headers[name.strip()] = value.strip()

    paths = args.images or ([] if args.noise else sorted(glob.glob(os.path.join(EXAMPLES, "mnist-test-*.json"))))
    names, rows = [], []
    for path in paths:
        with open(path) as f:
            rows.append(np.asarray(json.load(f)["pixels"], dtype=np.uint8).reshape(784))
        names.append(os.path.basename(path))
    if args.noise:
        with open(os.path.join(EXAMPLES, "noise-seed-0.json")) as f:
            rows.append(np.asarray(json.load(f)["pixels"], dtype=np.uint8).reshape(784))
        names.append("uniform noise (noise-seed-0.json)")

    client = httpclient.InferenceServerClient(url=args.url)
    try:
        if not client.is_server_ready(headers=headers) or not client.is_model_ready(args.model, headers=headers):
            print(f"{args.url}: server or model '{args.model}' is not ready", file=sys.stderr)
            return 1
        metadata = client.get_model_metadata(args.model, headers=headers)
        labels = metadata.get("parameters", {}).get("labels")  # class names

        pixels = httpclient.InferInput("pixels", [len(rows), 784], "UINT8")
        pixels.set_data_from_numpy(np.stack(rows), binary_data=True)
        result = client.infer(args.model, [pixels],
                              outputs=[httpclient.InferRequestedOutput(name, binary_data=True) for name in OUTPUTS],
                              parameters={"samples": args.samples, "seed": args.seed}, headers=headers)
    except (InferenceServerException, OSError) as error:  # an error answer, or no server there
        print(f"{args.url}: {error}", file=sys.stderr)
        return 1

    out = {name: result.as_numpy(name) for name in OUTPUTS}
    print(f"model {args.model}, {args.samples} Monte-Carlo passes, seed {args.seed}")
    for i, name in enumerate(names):
        mean, spread = out["probabilities"][i], np.sqrt(out["variance"][i])
        print(f"\n{name}: prediction {out['prediction'][i]}  "
              f"predictive entropy {out['predictive_entropy'][i]:.4f}  "
              f"expected entropy {out['expected_entropy'][i]:.4f}  "
              f"mutual information {out['mutual_information'][i]:.4f} nats")
        for k in np.argsort(-mean)[:3]:
            bar = "#" * int(round(40 * float(mean[k])))
            label = labels[k] if labels else str(k)
            print(f"  class {label:>2}  {mean[k]:.4f} ± {spread[k]:.4f}  {bar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

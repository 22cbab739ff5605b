"""Writes /predict request bodies for scripts/benchmarks/bench-http.sh: real test digits with a fixed number of passes.

Usage: make_bodies.py OUT_DIR SAMPLES [COUNT]
Takes the first COUNT (default 64) images of data/mnist/t10k-images-idx3-ubyte.gz when present (scripts/fetch-data.sh),
else the committed examples/mnist-test-*.json, and writes OUT_DIR/body-KKKK.json = {"pixels": [...], "samples": N}.
No seed, so every request draws fresh masks as production traffic would. Prints the file paths joined by ':'.
Standard library only.
"""
import json
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "scripts" / "python"))
from idx_summary import read_idx  # noqa: E402

out, samples = Path(sys.argv[1]), int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 64
images = root / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
if images.exists():
    dims, _, pixels = read_idx(images, 0x803, 3)
    width = dims[1] * dims[2]
    digits = [list(pixels[i * width:(i + 1) * width]) for i in range(min(count, dims[0]))]
else:
    digits = [json.loads(p.read_text())["pixels"] for p in sorted((root / "examples").glob("mnist-test-*.json"))]
out.mkdir(parents=True, exist_ok=True)
paths = []
for index, digit in enumerate(digits):
    path = out / f"body-{index:04d}.json"
    path.write_text(json.dumps({"pixels": digit, "samples": samples}, separators=(",", ":")))
    paths.append(str(path))
print(":".join(paths))

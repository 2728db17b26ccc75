"""The seed-style Python screening pipeline, the peer of `cxr screen` in `pnpm bench pipeline`.

What a user of the seed would write: pydicom reads each file (gdcm decodes the compressed
syntaxes pydicom cannot), min-max scaling to [0, 1], PIL bilinear resize to SIZE x SIZE, three
channels with ImageNet normalization, torchvision's DenseNet121 with seeded (random) weights on
the CPU in batches of BATCH under torch.inference_mode(). No queue, no store: the scores are
discarded after a checksum.

Usage: seed_pipeline.py --size 512 --batch 8 --labels 2 FILE...
       seed_pipeline.py --probe FILE...   (prints the files pydicom + gdcm can decode, one a line)

Prints one JSON line on stdout: images, seconds (first read to last batch), start_seconds
(interpreter start to the model being ready).
Run it with Debian's interpreter (/usr/bin/python3), where python3-pydicom, python3-gdcm,
python3-pil, python3-torch and python3-torchvision are installed.
"""

import argparse
import json
import sys
import time

START = time.perf_counter()

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from PIL import Image  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def preprocess(path: str, size: int) -> np.ndarray:
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float32)
    lo, hi = float(pixels.min()), float(pixels.max())
    pixels = (pixels - lo) / (hi - lo) if hi > lo else np.zeros_like(pixels)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        pixels = 1.0 - pixels
    resized = np.asarray(Image.fromarray(pixels, mode="F").resize((size, size), Image.BILINEAR))
    return (np.broadcast_to(resized, (3, size, size)) - MEAN) / STD


def probe(files: list[str]) -> None:
    for path in files:
        try:
            pydicom.dcmread(path).pixel_array
        except Exception as error:  # noqa: BLE001 - any decoder failure means "cannot decode"
            print(f"cannot decode {path}: {type(error).__name__}", file=sys.stderr)
            continue
        print(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--labels", type=int, default=2)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    if args.probe:
        probe(args.files)
        return

    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.densenet121(weights=None, num_classes=args.labels).eval()
    start_seconds = time.perf_counter() - START

    started = time.perf_counter()
    checksum = 0.0
    pending: list[np.ndarray] = []

    def flush() -> float:
        batch = torch.from_numpy(np.stack(pending))
        with torch.inference_mode():
            scores = torch.softmax(model(batch), dim=1)
        pending.clear()
        return float(scores.sum())

    for path in args.files:
        pending.append(preprocess(path, args.size))
        if len(pending) == args.batch:
            checksum += flush()
    if pending:
        checksum += flush()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "images": len(args.files),
                "seconds": seconds,
                "start_seconds": start_seconds,
                "checksum": checksum,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()

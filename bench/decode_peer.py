"""The seed's Python decode + preprocess recipe, timed per file, for `pnpm bench decode`.

Run with Debian's python3 (python3-pydicom, python3-gdcm for compressed syntaxes, python3-pil;
scripts/setup.sh installs them). A persistent process, one thread: bench/decode.ts writes one
DICOM path per line on stdin; for each, this reads the file, decodes it with pydicom (gdcm or
Pillow for compressed syntaxes), scales min-max to [0,1], resizes to 512x512 with PIL's bilinear
filter, replicates to 3 channels and normalizes with ImageNet's statistics (the model input the
seed's pipeline builds), then answers one JSON line: {"ms": <wall ms>} or {"error": "<reason>"}.
"ready" is printed once the imports are done, so import time is never counted.
"""

import json
import os
import sys
import time

# One thread, like the column it is compared with (numpy's BLAS is not used here, but be sure).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from PIL import Image  # noqa: E402

try:
    import gdcm  # noqa: F401,E402  (pydicom's gdcm handler needs the module importable)
except ImportError:
    pass

SIZE = 512
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def preprocess(path):
    ds = pydicom.dcmread(path)
    data = ds.pixel_array.astype(np.float32)
    lo = float(data.min())
    hi = float(data.max())
    data = (data - lo) / (hi - lo if hi > lo else 1.0)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        data = 1.0 - data
    img = Image.fromarray(data, mode="F").resize((SIZE, SIZE), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)[None, :, :]
    return (np.repeat(x, 3, axis=0) - MEAN) / STD


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        try:
            t0 = time.perf_counter()
            tensor = preprocess(path)
            ms = (time.perf_counter() - t0) * 1000
            if tensor.shape != (3, SIZE, SIZE):
                raise ValueError(f"tensor shape {tensor.shape}")
            print(json.dumps({"ms": ms}), flush=True)
        except Exception as error:  # noqa: BLE001  (any failure is one row's note)
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(json.dumps({"error": f"{type(error).__name__}: {reason}"[:200]}), flush=True)


if __name__ == "__main__":
    main()

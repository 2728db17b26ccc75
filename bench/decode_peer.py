"""The small helper process of `pnpm bench decode`: the seed's Python recipe and native tools.

Run with Debian's python3. A persistent process, one thread, driven by bench/decode.ts with one
JSON request per line on stdin and one JSON answer per line on stdout, {"ms": <wall ms>} (the recipe adds "cpuMs": this process's CPU
time, time.process_time) or {"error": "<reason>"}:
- {"recipe": path}: the seed's decode + preprocess, timed from reading the file: pydicom
  (python3-pydicom; gdcm via python3-gdcm or Pillow for compressed syntaxes) decodes, min-max
  scales to [0,1], PIL (python3-pil) resizes to 512x512 with its bilinear filter, the plane is
  replicated to 3 channels and normalized with ImageNet's statistics: the model input the seed's
  pipeline builds.
- {"native": [argv...]}: one whole process of a native tool (dcmtk, gdcm), started from this
  small process, so that a spawn costs what it costs a user at a shell (starting it from the
  benchmark's own large Node process costs 25-50 ms more per spawn).
The first line answers whether the recipe's packages import: {"ready": true, "recipe": true} or
{"ready": true, "recipe": false, "missing": "<module>"}. Import time is never counted.
"""

import json
import os
import sys
import time

# One thread, like the column it is compared with (numpy's BLAS is not used here, but be sure).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import subprocess  # noqa: E402

try:
    import numpy as np
    import pydicom
    from PIL import Image

    MISSING = None
except ImportError as error:  # the native tools can still be timed
    MISSING = error.name or str(error)

try:
    import gdcm  # noqa: F401  (pydicom's gdcm handler needs the module importable)
except ImportError:
    pass

SIZE = 512


def preprocess(path):
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
    ds = pydicom.dcmread(path)
    data = ds.pixel_array.astype(np.float32)
    lo = float(data.min())
    hi = float(data.max())
    data = (data - lo) / (hi - lo if hi > lo else 1.0)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        data = 1.0 - data
    img = Image.fromarray(data, mode="F").resize((SIZE, SIZE), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32)[None, :, :]
    return (np.repeat(x, 3, axis=0) - mean) / std


def recipe(path):
    c0 = time.process_time()
    t0 = time.perf_counter()
    tensor = preprocess(path)
    ms = (time.perf_counter() - t0) * 1000
    cpu_ms = (time.process_time() - c0) * 1000
    if tensor.shape != (3, SIZE, SIZE):
        raise ValueError(f"tensor shape {tensor.shape}")
    return {"ms": ms, "cpuMs": cpu_ms}


def native(argv):
    t0 = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t0) * 1000
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"{argv[0]} exited {result.returncode}: {lines[0] if lines else ''}")
    return ms


def main():
    ready = {"ready": True, "recipe": MISSING is None}
    if MISSING is not None:
        ready["missing"] = MISSING
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if "native" in request:
                answer = {"ms": native(request["native"])}
            elif MISSING is not None:
                raise RuntimeError(f"python module {MISSING} is not installed")
            else:
                answer = recipe(request["recipe"])
            print(json.dumps(answer), flush=True)
        except Exception as error:  # noqa: BLE001  (any failure is one row's note)
            text = str(error).splitlines()[0] if str(error) else ""
            print(json.dumps({"error": f"{type(error).__name__}: {text}"[:200]}), flush=True)


if __name__ == "__main__":
    main()

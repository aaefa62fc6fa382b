#!/usr/bin/env python3
"""fp32 against fp64 accumulation (`mir compute --precision`), per-layer FID
and MIR, on the given dumps and on generated extremes: rows with a large
common mean (1e4, 3e3) whose α-scaled FIDs are tiny, and vision/text rows
that differ by 1e-3. Prints one line per case: the worst per-layer relative
error of fp32 against fp64, the smallest FID, the MIR's relative error.

usage: bench/precision.py MIR_BINARY WORKDIR [DUMP_DIR...]
(the numbers in docs/performance.md, "fp32 or fp64 by default"; NumPy only)
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = arr.tobytes()
        dt = {np.float32: "F32", np.uint8: "U8"}[arr.dtype.type]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def extremes(work):
    rng = np.random.default_rng(7)
    k, d, t, v = 4, 128, 200, 96
    out = []
    for kind, mean, diff in (("large_mean", 1e4, 0.3), ("small_difference", 0.0, 1e-3),
                             ("large_mean_small_difference", 3e3, 1e-2)):
        path = os.path.join(work, kind)
        os.makedirs(path, exist_ok=True)
        base = rng.normal(size=(k, 1, d)) * 0.5
        for s in range(8):
            h = rng.normal(size=(k, t, d)) + mean + base
            h[:, :v, :] += diff * np.sin(np.arange(d))[None, None, :] * (1 + np.arange(k))[:, None, None]
            mask = np.zeros(t, np.uint8)
            mask[:v] = 1
            write_safetensors(os.path.join(path, f"sample_{s:04d}.safetensors"),
                              {"hidden_states": h.astype(np.float32), "vision_mask": mask})
        out.append(path)
    return out


def result(mir, path, precision):
    p = subprocess.run([mir, "compute", path, "--precision", precision, "--layers", "all", "--json", "-", "--quiet"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{path} ({precision}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    mir, work = sys.argv[1], sys.argv[2]
    for path in sys.argv[3:] + extremes(work):
        a, b = result(mir, path, "fp64"), result(mir, path, "fp32")
        worst = max(abs(x["fid"] - y["fid"]) / abs(x["fid"]) for x, y in zip(a["layers"], b["layers"]))
        print(f"{os.path.basename(path.rstrip('/'))}: worst per-layer FID rel. error {worst:.2e} "
              f"(smallest FID {min(x['fid'] for x in a['layers']):.3g}), "
              f"MIR rel. error {abs(a['mir'] - b['mir']) / abs(a['mir']):.2e}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Baseline for the end-to-end benchmark: a straightforward numpy/scipy
implementation of the official code's *accurate* mode (mir_util.py's
calculate_fid path): every hidden state of every sample in memory, per layer
the text-centric scale, the 3σ rule with replace-by-median, float32
covariances, and scipy.linalg.sqrtm of the covariance product.

usage: /usr/bin/python3 official_accurate.py DUMP_DIR   (prints MIR and seconds)
Needs Debian's python3-numpy and python3-scipy.
"""
import json
import os
import sys
import time

import numpy as np
import scipy.linalg


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "BF16":  # numpy has no bfloat16: widen the bits
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, {"F16": np.float16, "F32": np.float32, "F64": np.float64,
                                      "U8": np.uint8, "BOOL": np.bool_}[t["dtype"]])
        out[name] = arr.reshape(t["shape"])
    return out


def outlier_replace(x):
    # torch semantics: lower median, Bessel std, strict > 3 sigma.
    norms = np.linalg.norm(x, axis=1)
    med = np.sort(norms)[(len(norms) - 1) // 2]
    sigma = norms.std(ddof=1)
    bad = np.abs(norms - med) > 3 * sigma
    if bad.any():
        x = x.copy()
        x[bad] = np.sort(x, axis=0)[(x.shape[0] - 1) // 2]
    return x


def fid(v, t):
    mu1, mu2 = v.mean(0), t.mean(0)
    s1 = np.cov(v, rowvar=False).astype(np.float32)
    s2 = np.cov(t, rowvar=False).astype(np.float32)
    covmean = scipy.linalg.sqrtm(s1.dot(s2), disp=False)[0]
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    d = sys.argv[1]
    t0 = time.perf_counter()
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".safetensors"))
    samples = [read_safetensors(f) for f in files]  # everything in memory, as the official script
    layers = samples[0]["hidden_states"].shape[0]
    total = 0.0
    for k in range(1, layers):
        v = np.concatenate([s["hidden_states"][k][s["vision_mask"].astype(bool)] for s in samples]).astype(np.float32)
        t = np.concatenate([s["hidden_states"][k][~s["vision_mask"].astype(bool)] for s in samples]).astype(np.float32)
        alpha = t.shape[0] / np.linalg.norm(t, axis=1).sum()
        total += fid(outlier_replace(v * alpha), outlier_replace(t * alpha))
    secs = time.perf_counter() - t0
    print(json.dumps({"mir": float(np.log10(total)), "seconds": secs}))


if __name__ == "__main__":
    main()

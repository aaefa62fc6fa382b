"""`import mir` (python/): the accumulator fed torch and NumPy tensors in place,
exact in bounded memory (the data replayed) against keeping every row and a
NumPy oracle; mir.compute equal to the program; errors as mir.Error
subclasses with the C++ messages. Run by ctest (label `python`) with
PYTHONPATH at the built package and MIR_PROGRAM at the built program.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import mir

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import fid_none  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "data")


def samples(n=12, k1=4, d=16, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in range(n):
        t = 20 + s % 5
        hs = tuple((torch.randn(1, t, d, generator=g) * (1 + 0.3 * k)).to(dtype) for k in range(k1))
        vm = np.zeros(t, bool)
        vm[2:9] = True
        out.append((hs, vm))
    return out


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def feed(acc, data):
    for _ in acc.passes():
        for hs, vm in data:
            acc.add_sample(hs, vm)
    return acc.result()


def oracle_none(data, k1, d):
    """MIR with outliers='none' in NumPy (oracle.py), every non-vision row text."""
    total = 0.0
    for k in range(1, k1):
        v = np.concatenate([hs[k][0].double().numpy()[vm] for hs, vm in data])
        t = np.concatenate([hs[k][0].double().numpy()[~vm] for hs, vm in data])
        total += fid_none(v, t)
    return np.log10(total)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_bounded_passes_equal_keeping_every_row(dtype):
    data = samples(dtype=dtype)
    for policy in ("replace-median", "drop", "none"):
        bounded = feed(mir.Accumulator(4, 16, outliers=policy), data)
        rows = feed(mir.Accumulator(4, 16, outliers=policy, memory="rows"), data)
        assert rel(bounded.mir, rows.mir) < 1e-12, (policy, dtype)
        for a, b in zip(bounded.layers, rows.layers):
            assert a.vision_rows == b.vision_rows and a.text_outliers == b.text_outliers
            assert rel(a.fid, b.fid) < 1e-10


def test_against_a_numpy_oracle():
    data = samples(n=30, d=8)
    r = feed(mir.Accumulator(4, 8, outliers="none"), data)
    assert rel(r.mir, oracle_none(data, 4, 8)) < 1e-9


def test_rows_are_read_in_place():
    t = torch.randn(7, 16).to(torch.bfloat16)
    addr, rows, cols, rs, cs, dtype, in_place = mir._mir._describe_rows(t)
    assert (addr, rows, cols, rs, cs, dtype, in_place) == (t.data_ptr(), 7, 16, 16, 1, "bfloat16", True)
    a = np.zeros((5, 32), np.float32)
    addr, rows, cols, rs, cs, dtype, in_place = mir._mir._describe_rows(a[:, ::2])  # a strided view
    assert (addr, rows, cols, rs, cs, in_place) == (a.ctypes.data, 5, 16, 32, 2, False)
    h = torch.randn(1, 9, 16)
    assert mir._mir._describe_rows(h)[0] == h.data_ptr()


def test_compute_equals_the_program(capfd):
    res = mir.compute(EXAMPLE, outliers="drop")
    assert capfd.readouterr().out == ""  # the result is returned, not printed
    prog = json.loads(subprocess.run([os.environ["MIR_PROGRAM"], "compute", EXAMPLE, "--outliers", "drop", "--json",
                                      "-", "--quiet"], capture_output=True, text=True, check=True).stdout)
    def strip(layers):  # wall_s: each run's own timing
        return [{k: v for k, v in l.items() if k != "wall_s"} for l in layers]
    assert res.mir == prog["mir"] and strip(res.to_dict()["layers"]) == strip(prog["layers"])
    assert res.layers[0].fid == prog["layers"][0]["fid"]
    with pytest.raises(mir.UsageError, match="LEVEL"):
        mir.compute(EXAMPLE, ci=1.5)
    with pytest.raises(mir.FileError, match="no such file"):
        mir.compute("/nonexistent/dumps")


def test_bad_input_raises_with_a_clear_message():
    acc = mir.Accumulator(4, 16)
    vm = np.ones(3, bool)
    with pytest.raises(mir.ArgumentError, match="int32"):
        acc.add(1, torch.zeros(3, 16, dtype=torch.int32), vm)
    with pytest.raises(mir.ShapeError, match="hidden size 8"):
        acc.add(1, torch.zeros(3, 8), vm)
    with pytest.raises(mir.ShapeError):
        acc.add(1, torch.zeros(2, 3, 16), vm)  # rank 3 with a batch of 2
    with pytest.raises(mir.ShapeError, match="entries for 3 tokens"):
        acc.add(1, torch.zeros(3, 16), np.ones(4, bool))
    with pytest.raises(mir.ArgumentError, match="outside 0..3"):
        acc.add(4, torch.zeros(3, 16), vm)
    with pytest.raises(mir.ArgumentError, match="float16, bfloat16"):
        acc.add(1, np.zeros((3, 16), np.int64), vm)
    with pytest.raises(mir.ArgumentError, match="memory="):
        mir.Accumulator(4, 16, memory="disk")
    with pytest.raises(mir.ArgumentError, match="in progress"):
        acc.result()
    assert issubclass(mir.UsageError, mir.ArgumentError) and issubclass(mir.ShapeError, mir.Error)


def test_reservoir_is_flagged_as_an_estimate():
    data = samples(n=20, d=16)
    est = feed(mir.Accumulator(4, 16, memory="reservoir", reservoir_rows=32), data)
    exact = feed(mir.Accumulator(4, 16), data)
    assert all(not layer.exact for layer in est.layers) and all(layer.exact for layer in exact.layers)
    assert rel(est.mir, exact.mir) < 0.05  # an estimate of the same quantity (api.md: its measured error)
    assert est.to_dict()["layers"][0].keys() == exact.to_dict()["layers"][0].keys()

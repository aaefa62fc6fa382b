#!/usr/bin/python3
"""Benchmarks of `import mir` (docs/python.md has the figures and the command):

1. add() throughput: mir.Accumulator.add called from Python, sample by sample,
   against the same C++ accumulator fed the same rows by a C++ loop
   (mir._mir._cpp_add_loop), in the same process, pass by pass. The ratio is
   C++ time / Python time (1.0: Python adds nothing; the issue asks >= 0.9).
2. The hooks' overhead on the tiny LLaVA-style model of tests/pymodule: forward
   passes alone, with mir.HiddenStateHook feeding an accumulator, and with
   output_hidden_states + add_sample (the alternative), over every pass.

Every figure is the median of --repeats runs, each baseline measured in the
same run. Usage (after building; PYTHONPATH at the built package):

    PYTHONPATH=build/ci-gcc/python OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/python_module.py --json out.json
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

import mir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "pymodule"))


def add_throughput(d, tokens, samples, dtype, repeats):
    g = torch.Generator().manual_seed(0)
    rows = [(torch.randn(tokens, d, generator=g) * (1 + (i % 3))).to(dtype) for i in range(samples)]
    vm = np.zeros(tokens, bool)
    vm[:tokens // 2] = True
    out = []
    for _ in range(repeats):
        py_acc = mir.Accumulator(2, d)
        cpp_acc = mir.Accumulator(2, d)
        passes = []
        while not py_acc.done:
            t0 = time.perf_counter()
            for x in rows:
                py_acc.add(1, x, vm)
            t_py = time.perf_counter() - t0
            t0 = time.perf_counter()
            for x in rows:  # one C++ loop per sample's rows: the same rows, no Python between the adds
                mir._mir._cpp_add_loop(cpp_acc._impl, 1, x, vm, 1)
            t_cpp = time.perf_counter() - t0
            passes.append((py_acc.current_pass, t_py, t_cpp))
            py_acc.end_pass()
            cpp_acc.end_pass()
        assert py_acc.result().mir == cpp_acc.result().mir
        out.append(passes)
    per_pass = []
    for p in range(len(out[0])):
        t_py = statistics.median(r[p][1] for r in out)
        t_cpp = statistics.median(r[p][2] for r in out)
        per_pass.append({"pass": p + 1, "python_s": t_py, "cpp_s": t_cpp, "ratio_cpp_over_python": t_cpp / t_py,
                         "rows_per_s_python": samples * tokens / t_py})
    total_py = sum(p["python_s"] for p in per_pass)
    total_cpp = sum(p["cpp_s"] for p in per_pass)
    return {"d": d, "tokens": tokens, "samples": samples, "dtype": str(dtype).replace("torch.", ""),
            "passes": per_pass, "ratio_cpp_over_python": total_cpp / total_py}


def hook_overhead(samples, repeats, d, layers):
    from tiny_llava import IMAGE_TOKEN, TinyLlava, sample_inputs
    model = TinyLlava(d=d, layers=layers).eval()
    data = sample_inputs(samples, patches=12, prefix=3)
    prefix, patches = 3, 12

    def masks(t):
        vm, tm = np.zeros(t, bool), np.zeros(t, bool)
        vm[prefix:prefix + patches] = True
        tm[prefix + patches:] = True
        return vm, tm

    def hooked():
        acc = mir.Accumulator(layers + 1, d)
        t0 = time.perf_counter()
        with mir.HiddenStateHook(model, acc, image_token_id=IMAGE_TOKEN) as hook:
            for _ in acc.passes():
                for ids, feats in data:
                    hook.set_sample(input_ids=ids)
                    model(ids, feats)
        r = acc.result().mir
        return time.perf_counter() - t0, acc.current_pass - 1, r

    def via_hidden_states():
        acc = mir.Accumulator(layers + 1, d)
        t0 = time.perf_counter()
        for _ in acc.passes():
            for ids, feats in data:
                hs = model(ids, feats, output_hidden_states=True)[1]
                acc.add_sample(hs, *masks(hs[0].shape[1]))
        r = acc.result().mir
        return time.perf_counter() - t0, r

    def forwards(n_passes):
        t0 = time.perf_counter()
        for _ in range(n_passes):
            for ids, feats in data:
                model(ids, feats)
        return time.perf_counter() - t0

    rows = []
    with torch.no_grad():
        for _ in range(repeats):
            t_hook, n_passes, r1 = hooked()
            t_hs, r2 = via_hidden_states()
            assert r1 == r2
            rows.append((forwards(n_passes), t_hook, t_hs, n_passes))
    t_plain = statistics.median(r[0] for r in rows)
    t_hook = statistics.median(r[1] for r in rows)
    t_hs = statistics.median(r[2] for r in rows)
    return {"model": f"tiny LLaVA-style LLaMA, K = {layers}, d = {d}", "samples": samples, "passes": rows[0][3],
            "forward_only_s": t_plain, "hooked_s": t_hook, "output_hidden_states_add_sample_s": t_hs,
            "hooked_over_forward": t_hook / t_plain, "hooked_over_add_sample": t_hook / t_hs}


def state_size(d=4096):
    """Bytes of one layer's state (what state_dict holds, all_reduce sends) at the end of each pass, per precision."""
    out = {}
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(700, d, generator=g).to(torch.bfloat16) for _ in range(3)]
    vm = np.zeros(700, bool)
    vm[:576] = True
    for prec in ("fp64", "fp32"):
        acc = mir.Accumulator(2, d, precision=prec)
        sizes = []
        while not acc.done:
            for t in x:
                acc.add(1, t, vm)
            sizes.append(len(acc._impl.layer_bytes(0)))
            acc.end_pass()
        out[prec] = sizes
        print(f"state of one layer at d = {d}, {prec}: " + ", ".join(f"pass {i + 1} {b / 1e6:.1f} MB"
                                                                   for i, b in enumerate(sizes))
              + f"; 32 layers in pass 2: {32 * sizes[1] / 1e9:.1f} GB")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="")
    ap.add_argument("--state-size", action="store_true", help="only the state size at d = 4096")
    a = ap.parse_args()
    if a.state_size:
        state_size()
        return
    res = {"mir_version": mir.__version__, "torch": torch.__version__, "blas_threads":
           os.environ.get("OPENBLAS_NUM_THREADS", "default"), "add": [], "hooks": []}
    for d, tokens, samples, dtype in ((1024, 700, 20, torch.bfloat16), (1024, 700, 20, torch.float32),
                                      (256, 100, 200, torch.bfloat16)):
        r = add_throughput(d, tokens, samples, dtype, a.repeats)
        res["add"].append(r)
        print(f"add d={d} T={tokens} n={samples} {r['dtype']}: C++/Python = {r['ratio_cpp_over_python']:.3f} "
              + " ".join(f"[pass {p['pass']}: {p['python_s'] * 1e3:.1f} ms vs {p['cpp_s'] * 1e3:.1f} ms]"
                         for p in r["passes"]))
    for d, layers, samples in ((64, 4, 40), (256, 8, 20)):
        h = hook_overhead(samples, a.repeats, d, layers)
        res["hooks"].append(h)
        print(f"hooks {h['model']}, {samples} samples x {h['passes']} passes: forward {h['forward_only_s'] * 1e3:.1f} ms, "
              f"hooked {h['hooked_s'] * 1e3:.1f} ms ({h['hooked_over_forward']:.2f}x), output_hidden_states + "
              f"add_sample {h['output_hidden_states_add_sample_s'] * 1e3:.1f} ms "
              f"(hooked/that {h['hooked_over_add_sample']:.3f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()

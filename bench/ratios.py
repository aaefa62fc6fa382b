#!/usr/bin/env python3
"""Ratio tables from the JSON files of mir's benchmarks.

Usage: ratios.py TRACE_SQRT.json TRACE_SQRT_EIGEN.json ACCUMULATE.json
       (any subset, any order: each file is recognised by its benchmarks)

Reads the aggregate rows (--benchmark_repetitions=N
--benchmark_report_aggregates_only=true; the benchmarks add "min" and "max"
aggregates) and prints Markdown tables. Every ratio comes from a paired
measurement inside one benchmark: each iteration runs mir and its baseline
back to back (alternating order), and the benchmark reports
ratio = Σ t_mir / Σ t_bound (trace square root) or Σ t_blas / Σ t_mir
(throughput) for its repetition. The tables show the median over the
repetitions and the [min–max] range. Numbers of different runs are never
combined (the machine is shared and noisy).

Standard library only (python3 here has no numpy).
"""

import json
import sys

MIR_TARGET = 1.2        # trace_sqrt_product: time within 1.2x the bound
ACC_TARGET = 0.85       # fp32 accumulation: >= 85% of ssyrk throughput


def load(path):
    """{(base, arg): {aggregate: {"time": seconds, counter: value, ...}}}"""
    with open(path) as f:
        doc = json.load(f)
    ctx = doc.get("context", {})
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "aggregate":
            continue
        agg = b.get("aggregate_name")
        if agg not in ("median", "min", "max", "cv"):
            continue
        run = b.get("run_name", b["name"])
        # "BM_x/block_rows:256/iterations:3/manual_time" -> ("BM_x", 256)
        parts = run.split("/")
        base, arg = parts[0], None
        for p in parts[1:]:
            if p.startswith("block_rows:"):
                p = p.split(":", 1)[1]
            if p.isdigit():
                arg = int(p)
                break
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
        entry = {"time": b["real_time"] * (scale if agg != "cv" else 1.0)}
        for k, v in b.items():
            if isinstance(v, (int, float)) and k not in ("real_time", "cpu_time", "iterations", "repetitions",
                                                         "repetition_index", "threads", "family_index",
                                                         "per_family_instance_index"):
                entry[k] = v
        rows.setdefault((base, arg), {})[agg] = entry
    return ctx, rows


def fmt_s(sec):
    if sec is None:
        return "—"
    return f"{sec * 1e3:.1f} ms" if sec < 10 else f"{sec:.2f} s"


def fmt_r(r, digits=3):
    return "—" if r is None else f"{r:.{digits}f}"


def get(rows, base, arg, key="time", agg="median"):
    return rows.get((base, arg), {}).get(agg, {}).get(key)


def spread(rows, base, arg, key, digits=3):
    lo, hi = get(rows, base, arg, key, "min"), get(rows, base, arg, key, "max")
    if lo is None or hi is None:
        return ""
    return f" [{lo:.{digits}f}–{hi:.{digits}f}]"


def trace_sqrt_tables(lapack, eigen):
    print("### trace_sqrt_product vs the composed LAPACK bound")
    print()
    print("Bound: LAPACKE_dpotrf + 2 x cblas_dtrmm + LAPACKE_dsyevd('N'), input copies included.")
    print("Each iteration times mir and the bound back to back (alternating order); ratio =")
    print("Σ t_mir / Σ t_bound per repetition, median over the repetitions [min–max];")
    print(f"times are medians. Target: mir (LAPACK) / bound <= {MIR_TARGET}.")
    print()
    print("| d | bound | mir (LAPACK) | mir / bound | bound (in Eigen exe) | mir (pure Eigen) "
          "| Eigen / bound | mir's extra memory passes | target met |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|:---|")
    sizes = sorted({a for (b, a) in list(lapack[1]) + list(eigen[1]) if b == "BM_trace_sqrt"})
    for d in sizes:
        lr, er = lapack[1], eigen[1]
        lb = get(lr, "BM_trace_sqrt", d, "bound_ms")
        eb = get(er, "BM_trace_sqrt", d, "bound_ms")
        r = get(lr, "BM_trace_sqrt", d, "ratio_vs_bound")
        erat = get(er, "BM_trace_sqrt", d, "ratio_vs_bound")
        pm, pb = get(lr, "BM_trace_sqrt_passes_mir", d), get(lr, "BM_trace_sqrt_passes_bound", d)
        extra = None if pm is None or pb is None else pm - pb
        met = "—" if r is None else ("yes" if r <= MIR_TARGET else "**no**")
        print(f"| {d} | {fmt_s(None if lb is None else lb / 1e3)} | {fmt_s(get(lr, 'BM_trace_sqrt', d))} "
              f"| {fmt_r(r)}{spread(lr, 'BM_trace_sqrt', d, 'ratio_vs_bound')} "
              f"| {fmt_s(None if eb is None else eb / 1e3)} | {fmt_s(get(er, 'BM_trace_sqrt', d))} "
              f"| {fmt_r(erat, 2)}{spread(er, 'BM_trace_sqrt', d, 'ratio_vs_bound', 2)} "
              f"| {fmt_s(extra)} | {met} |")
    for name, (ctx, rows) in (("LAPACK executable", lapack), ("Eigen executable", eigen)):
        if ctx:
            diffs = [get(rows, "BM_trace_sqrt", d, "rel_diff_vs_bound") for d in sizes]
            diffs = [x for x in diffs if x is not None]
            print(f"\n{name}: mir_use_lapack={ctx.get('mir_use_lapack', '?')}"
                  + (f", max relative difference of the value vs the bound {max(diffs):.1e}" if diffs else ""), end="")
    print("\n")


def accumulate_tables(acc):
    ctx, rows = acc
    d = float(ctx.get("dim", "4096"))
    default_k = ctx.get("default_block_rows", "256")
    blocks = sorted({a for (b, a) in rows if b.startswith(("BM_moments", "BM_ssyrk", "BM_dsyrk")) and a})

    def fmt_t(x):
        return "—" if x is None else f"{x / 1e3:.2f}k"

    def fmt_g(x):
        return "—" if x is None else f"{x * d * (d + 1) * 1e-9:.0f}"

    for title, alone, modes in (
        ("fp32 accumulation (mir::moments<float>) vs cblas_ssyrk", "BM_ssyrk_f32",
         [("f16", "BM_moments_f32acc_f16"), ("bf16", "BM_moments_f32acc_bf16"), ("f32", "BM_moments_f32acc_f32")]),
        ("fp64 accumulation (mir::moments<double>) vs cblas_dsyrk", "BM_dsyrk_f64",
         [("f16", "BM_moments_f64acc_f16"), ("bf16", "BM_moments_f64acc_bf16"), ("f32", "BM_moments_f64acc_f32"),
          ("f64", "BM_moments_f64acc_f64")]),
    ):
        blas = alone[3:8]
        fp32 = alone == "BM_ssyrk_f32"
        print(f"### {title}, d = {int(d)}")
        print()
        print(f"Tokens/s are medians over the repetitions (GFLOP/s = tokens/s x d(d+1)). Each mir iteration is")
        print(f"paired with {blas} on the same number of rows, block_rows rows per call, back to back;")
        print(f"ratio = mir throughput / paired {blas} throughput, median over the repetitions [min–max].")
        print()
        head = f"| block_rows | {blas} alone tokens/s | GFLOP/s |"
        sep = "|---:|---:|---:|"
        for label, _ in modes:
            head += f" {label} rows: mir tokens/s | ratio |"
            sep += "---:|---:|"
        print(head)
        print(sep)
        for k in blocks:
            b = get(rows, alone, k, "tokens_per_s")
            line = f"| {k}{' (default)' if str(k) == default_k else ''} | {fmt_t(b)} | {fmt_g(b)} |"
            for _, base in modes:
                m = get(rows, base, k, "tokens_per_s")
                r = get(rows, base, k, "ratio_vs_blas")
                ok = ""
                if fp32 and r is not None:
                    ok = "" if r >= ACC_TARGET else " ✗"
                line += f" {fmt_t(m)} | {fmt_r(r)}{spread(rows, base, k, 'ratio_vs_blas')}{ok} |"
            print(line)
        print()
        vals = [(get(rows, alone, k, "tokens_per_s"), k) for k in blocks if get(rows, alone, k, "tokens_per_s")]
        if vals:
            bb, bk = max(vals)
            print(f"- {blas} alone is fastest at k = {bk}: {fmt_t(bb)} tokens/s ({fmt_g(bb)} GFLOP/s).")
        for label, base in modes:
            mv = [(get(rows, base, k, "tokens_per_s"), k) for k in blocks if get(rows, base, k, "tokens_per_s")]
            rv = [(get(rows, base, k, "ratio_vs_blas"), k) for k in blocks if get(rows, base, k, "ratio_vs_blas")]
            if not mv:
                continue
            mb, mk = max(mv)
            line = f"- {label} rows: fastest mir block_rows = {mk} ({fmt_t(mb)} tokens/s"
            if vals:
                line += f", {fmt_r(mb / bb)} of the fastest {blas} alone, measured at other moments of the run"
            line += ")"
            if rv:
                rd = get(rows, base, int(default_k), "ratio_vs_blas")
                rbest = max(rv)
                line += f"; paired ratio at the default {default_k}: {fmt_r(rd)}, best {fmt_r(rbest[0])} at {rbest[1]}"
                if fp32 and rd is not None:
                    line += " — target >= 0.85 at the default " + ("met" if rd >= ACC_TARGET else "NOT met")
            print(line)
        print()
    sweeps = sorted(b for (b, _) in rows if b.startswith("BM_block_sweep"))
    if sweeps:
        ks = (128, 256, 512, 1024)
        print(f"### Block size (rows per rank-k update), d = {int(d)}")
        print()
        print("One accumulator per block size, fed the same rows back to back in rotating order;")
        print(f"throughput relative to the default block_rows = {default_k} (> 1: faster), median over the")
        print("repetitions [min–max].")
        print()
        print("| mode | " + " | ".join(f"{k}{' (default)' if str(k) == default_k else ''}" for k in ks)
              + " | fastest | default tokens/s |")
        print("|:---|" + "---:|" * len(ks) + ":---|---:|")
        for b in sweeps:
            acc_t, rows_t = b.split("_")[-2], b.split("_")[-1]
            rel = {k: get(rows, b, None, f"rel_{k}") for k in ks}
            cells = [f"{fmt_r(rel[k])}{spread(rows, b, None, f'rel_{k}')}" for k in ks]
            best_k = max((v, k) for k, v in rel.items() if v is not None)[1]
            print(f"| {acc_t[:3]} accumulation, {rows_t} rows | " + " | ".join(cells)
                  + f" | {best_k} | {fmt_t(get(rows, b, None, 'tokens_per_s_' + default_k))} |")
        print()

    loads = sorted((b, k) for (b, k) in rows if b.startswith("BM_load_rows"))
    if loads:
        print("Conversion alone (detail::load_rows into fp32, 256-row blocks), median tokens/s: " + ", ".join(
            f"{b.split('_')[-1]} rows {fmt_t(get(rows, b, k, 'tokens_per_s'))}" for b, k in loads))
        print()


def main(argv):
    lapack = eigen = acc = None
    for path in argv[1:]:
        try:
            ctx, rows = load(path)
        except (OSError, ValueError, KeyError) as e:
            print(f"ratios.py: {path}: cannot read benchmark JSON ({e})", file=sys.stderr)
            continue
        names = {b for (b, _) in rows}
        if "BM_trace_sqrt" in names:
            if str(ctx.get("mir_use_lapack", "1")) == "0":
                eigen = (ctx, rows)
            else:
                lapack = (ctx, rows)
        elif any(b.startswith("BM_moments") for b in names):
            acc = (ctx, rows)
        else:
            print(f"ratios.py: {path}: no known benchmarks (were aggregates written?)", file=sys.stderr)
    if lapack or eigen:
        trace_sqrt_tables(lapack or ({}, {}), eigen or ({}, {}))
    if acc:
        accumulate_tables(acc)
    if not (lapack or eigen or acc):
        print(__doc__, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

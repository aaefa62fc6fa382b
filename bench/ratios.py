#!/usr/bin/env python3
"""Ratio tables from the JSON files of mir's benchmarks.

Usage: ratios.py TRACE_SQRT.json TRACE_SQRT_EIGEN.json ACCUMULATE.json
       (any subset, any order: each file is recognised by its benchmarks)

Reads the aggregate rows (--benchmark_repetitions=N
--benchmark_report_aggregates_only=true) and prints Markdown tables. Every
ratio is formed from two numbers of the *same* executable run (the machine
is shared and noisy; numbers of different runs are not compared). Ratios use
the median of the repetitions; the ratio of the minima (the least disturbed
repetition of each) is shown next to it. Throughputs are derived from the
real times, so they are consistent with the ratios.

Standard library only (python3 here has no numpy).
"""

import json
import sys

ROWS_PER_ITER_DEFAULT = 4096
MIR_TARGET = 1.2        # trace_sqrt_product: time within 1.2x the bound
ACC_TARGET = 0.85       # fp32 accumulation: >= 85% of ssyrk throughput


def load(path):
    with open(path) as f:
        doc = json.load(f)
    ctx = doc.get("context", {})
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "aggregate":
            continue
        agg = b.get("aggregate_name")
        if agg not in ("median", "min"):
            continue
        run = b.get("run_name", b["name"])
        # "BM_x/1024/min_time:0.500/real_time" -> ("BM_x", 1024)
        parts = run.split("/")
        base = parts[0]
        arg = None
        for p in parts[1:]:
            p = p.split(":")[-1] if p.startswith("block_rows:") else p
            if p.isdigit():
                arg = int(p)
                break
        t = b["real_time"]
        unit = b.get("time_unit", "ns")
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
        rows.setdefault((base, arg), {})[agg] = t * scale  # seconds
    return ctx, rows


def fmt_s(sec):
    if sec is None:
        return "—"
    return f"{sec * 1e3:.1f} ms" if sec < 10 else f"{sec:.2f} s"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_r(r, digits=3):
    return "—" if r is None else f"{r:.{digits}f}"


def get(rows, base, arg, agg="median"):
    return rows.get((base, arg), {}).get(agg)


def trace_sqrt_tables(lapack, eigen):
    print("### trace_sqrt_product vs the composed LAPACK bound")
    print()
    print("Bound: LAPACKE_dpotrf + 2 x cblas_dtrmm + LAPACKE_dsyevd('N'), input copies included.")
    print("Times are medians; ratios are median/median (min/min in brackets), each")
    print(f"within one executable's run. Target: mir (LAPACK) / bound <= {MIR_TARGET}.")
    print()
    print("| d | bound | mir (LAPACK) | mir / bound | bound (Eigen exe) | mir (pure Eigen) | Eigen / bound | target met |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---|")
    sizes = sorted({a for (b, a) in list(lapack[1]) + list(eigen[1]) if b.startswith("BM_trace_sqrt")})
    for d in sizes:
        lb = get(lapack[1], "BM_trace_sqrt_bound", d)
        lm = get(lapack[1], "BM_trace_sqrt_mir", d)
        r = ratio(lm, lb)
        rmin = ratio(get(lapack[1], "BM_trace_sqrt_mir", d, "min"), get(lapack[1], "BM_trace_sqrt_bound", d, "min"))
        eb = get(eigen[1], "BM_trace_sqrt_bound", d)
        em = get(eigen[1], "BM_trace_sqrt_mir", d)
        er = ratio(em, eb)
        ermin = ratio(get(eigen[1], "BM_trace_sqrt_mir", d, "min"), get(eigen[1], "BM_trace_sqrt_bound", d, "min"))
        met = "—" if r is None else ("yes" if r <= MIR_TARGET else "**no**")
        print(f"| {d} | {fmt_s(lb)} | {fmt_s(lm)} | {fmt_r(r)} ({fmt_r(rmin)}) | {fmt_s(eb)} | {fmt_s(em)} "
              f"| {fmt_r(er, 1)} ({fmt_r(ermin, 1)}) | {met} |")
    for name, (ctx, _) in (("LAPACK executable", lapack), ("Eigen executable", eigen)):
        if ctx:
            print(f"\n{name}: mir_use_lapack={ctx.get('mir_use_lapack', '?')}", end="")
    print("\n")


def accumulate_tables(acc):
    ctx, rows = acc
    n = int(ctx.get("rows_per_iteration", ROWS_PER_ITER_DEFAULT))
    d = ctx.get("dim", "4096")
    blocks = sorted({a for (b, a) in rows if b.startswith(("BM_moments", "BM_ssyrk", "BM_dsyrk")) and a})

    def tps(base, k, agg="median"):
        t = get(rows, base, k, agg)
        return None if t is None else n / t

    def best(base):
        vals = [(tps(base, k), k) for k in blocks if tps(base, k) is not None]
        return max(vals) if vals else (None, None)

    def fmt_t(x):
        return "—" if x is None else f"{x / 1e3:.1f}k"

    def fmt_g(x):
        return "—" if x is None else f"{x * float(d) * (float(d) + 1) * 1e-9:.0f}"

    for title, base_blas, modes in (
        ("fp32 accumulation (mir::moments<float>) vs cblas_ssyrk", "BM_ssyrk_f32",
         [("f16", "BM_moments_f32acc_f16"), ("bf16", "BM_moments_f32acc_bf16"), ("f32", "BM_moments_f32acc_f32")]),
        ("fp64 accumulation (mir::moments<double>) vs cblas_dsyrk", "BM_dsyrk_f64",
         [("f16", "BM_moments_f64acc_f16"), ("bf16", "BM_moments_f64acc_bf16"), ("f32", "BM_moments_f64acc_f32"),
          ("f64", "BM_moments_f64acc_f64")]),
    ):
        blas_name = base_blas[3:8]
        print(f"### {title}, d = {d}")
        print()
        print(f"Tokens/s (median of the repetitions; GFLOP/s = tokens/s x d(d+1)). Ratio = mir throughput /")
        print(f"{blas_name} throughput with the same rows per call (block_rows), median/median (min/min).")
        print()
        head = f"| block_rows | {blas_name} tokens/s | {blas_name} GFLOP/s |"
        sep = "|---:|---:|---:|"
        for label, _ in modes:
            head += f" {label} rows tokens/s | {label} / {blas_name} |"
            sep += "---:|---:|"
        print(head)
        print(sep)
        for k in blocks:
            b = tps(base_blas, k)
            line = f"| {k} | {fmt_t(b)} | {fmt_g(b)} |"
            for _, base in modes:
                m = tps(base, k)
                r = ratio(m, b)
                rmin = ratio(tps(base, k, "min"), tps(base_blas, k, "min"))
                line += f" {fmt_t(m)} | {fmt_r(r)} ({fmt_r(rmin)}) |"
            print(line)
        bb, bk = best(base_blas)
        print()
        print(f"Best {blas_name}: {fmt_t(bb)} tokens/s ({fmt_g(bb)} GFLOP/s) at block_rows={bk}.")
        for label, base in modes:
            mb, mk = best(base)
            rb = ratio(mb, bb)
            line = (f"Best mir, {label} rows: {fmt_t(mb)} tokens/s at block_rows={mk}; "
                    f"vs best {blas_name}: {fmt_r(rb)}")
            if base_blas == "BM_ssyrk_f32" and rb is not None:
                line += "  (target >= 0.85: " + ("met" if rb >= ACC_TARGET else "NOT met") + ")"
            print(line)
        print()
    loads = [(k, b) for (b, k) in rows if b.startswith("BM_load_rows")]
    if loads:
        print("Conversion alone (detail::load_rows into fp32, block_rows=256), tokens/s: " + ", ".join(
            f"{b.split('_')[-1]} {fmt_t(n / get(rows, b, k))}" for k, b in sorted(loads)))
        print()


def main(argv):
    lapack = eigen = acc = None
    for path in argv[1:]:
        ctx, rows = load(path)
        names = {b for (b, _) in rows}
        if any(b.startswith("BM_trace_sqrt") for b in names):
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

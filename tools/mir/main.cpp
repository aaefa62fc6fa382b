// tools/mir/main.cpp — the `mir` program: compute, synth, inspect.
#include <mir/io/tensor_file.hpp>
#include <mir/source/dump.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <unistd.h>

#include "bench_sqrt.hpp"
#include "compute.hpp"
#include "moca_init.hpp"
#include "synth.hpp"

namespace {

// OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons whose CPUID
// model name is generic and falls back to its SSE3 "Prescott" kernels, 3-4x
// slower here. It picks kernels when the library loads, before main, so the
// only remedy is to restart with OPENBLAS_CORETYPE set. We do that once, only
// when the fallback was chosen on a CPU with AVX2 or AVX-512, and never when
// the user set OPENBLAS_CORETYPE.
void use_fast_blas_kernels(char** argv) {
#if MIR_USE_LAPACK && defined(__x86_64__)
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
    if (std::strcmp(mir::backend::active::name(), "Prescott") != 0) return;
    __builtin_cpu_init();
    const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX" : __builtin_cpu_supports("avx2") ? "Haswell" : nullptr;
    if (core == nullptr) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);  // returns only on failure: go on with the slow kernels
#else
    (void)argv;
#endif
}

int run_inspect(const std::vector<std::string>& inputs) {
    std::vector<std::filesystem::path> paths(inputs.begin(), inputs.end());
    int status = 0;
    for (const auto& f : mir::expand_inputs(paths)) {
        std::printf("%s\n", f.string().c_str());
        auto file = mir::io::tensor_file::open(f);
        for (const auto& t : file.tensors()) {
            std::string shape;
            for (std::size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
            std::printf("  %-24s %-5s [%s]\n", t.name.c_str(), std::string(to_string(t.dtype)).c_str(), shape.c_str());
        }
        try {
            const auto d = mir::dump_file::open(std::move(file));
            std::printf("  layout: %s; %d hidden-state indices (K = %d), hidden size %td, %td vision + %td text rows per layer\n",
                        std::string(to_string(d.layout())).c_str(), d.num_indices(), d.num_indices() - 1,
                        d.hidden_size(), d.vision_rows(), d.text_rows());
        } catch (const mir::error& e) {
            std::printf("  layout: not a mir dump: %s\n", e.what());
            status = 1;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    use_fast_blas_kernels(argv);
    CLI::App app{"mir — Modality Integration Rate of vision-language models from hidden-state dumps"};
    app.require_subcommand(1);

    mir::tool::compute_options co;
    std::string policy = "replace-median", sqrt = "exact", precision = "fp64";
    auto* compute = app.add_subcommand("compute", "MIR and per-layer FID of hidden-state dumps");
    compute->add_option("paths", co.inputs, "dump files, or directories of .safetensors/.npz files")->required();
    compute->add_option("--layers", co.layers,
                        "hidden-state indices: all, 1-32, 1,4,8 (default: every index but 0)");
    compute->add_option("--outliers", policy, "replace-median (default), drop or none")
        ->check(CLI::IsMember({"replace-median", "drop", "none"}));
    compute->add_option("--sqrt", sqrt,
                        "exact (default), newton-schulz, denman-beavers, pade, taylor, or reference-fast (the official "
                        "fast mode's value)")
        ->check(CLI::IsMember({"exact", "newton-schulz", "denman-beavers", "pade", "taylor", "reference-fast"}));
    compute->add_option("--sqrt-tol", co.sqrt.tol,
                        "newton-schulz/denman-beavers: stop when |tr(I - Z Y)| <= TOL, a bound on the relative error "
                        "of the trace square root (default 1e-10)")
        ->check(CLI::PositiveNumber);
    compute->add_option("--sqrt-max-iter", co.sqrt.max_iter, "newton-schulz/denman-beavers: iteration limit (default 100)")
        ->check(CLI::Range(1, 100000));
    compute->add_option("--precision", precision, "accumulation: fp64 (default) or fp32")
        ->check(CLI::IsMember({"fp64", "fp32"}));
    compute->add_option("--json", co.json, "write the result as JSON to FILE (- for stdout, nothing else printed)");
    compute->add_option("--plot", co.plot, "write an SVG plot of per-layer FID to FILE");
    compute->add_option("--threads", co.threads, "layers computed in parallel (default 1)")->check(CLI::Range(1, 1024));
    compute->add_flag("--quiet", co.quiet, "no progress on stderr");

    mir::tool::synth_options so;
    std::string text_tokens = "60-100";
    auto* synth = app.add_subcommand("synth", "write a deterministic synthetic LVLM-like dump");
    synth->add_option("outdir", so.outdir, "output directory")->required();
    synth->add_option("--num-layers", so.num_layers, "K decoder layers (files hold K+1 indices)");
    synth->add_option("--dim", so.dim, "hidden size");
    synth->add_option("--samples", so.samples, "number of sample files");
    synth->add_option("--vision-tokens", so.vision_tokens, "vision tokens per sample");
    synth->add_option("--text-tokens", text_tokens, "text tokens per sample, MIN-MAX");
    synth->add_option("--massive", so.massive, "massive-activation tokens per sample");
    synth->add_option("--dtype", so.dtype, "f16, bf16, f32 or f64")->check(CLI::IsMember({"f16", "bf16", "f32", "f64"}));
    synth->add_option("--seed", so.seed, "random seed");

    std::vector<std::string> inspect_inputs;
    auto* inspect = app.add_subcommand("inspect", "tensors, dtypes, shapes and the detected dump layout");
    inspect->add_option("paths", inspect_inputs, "files or directories")->required();

    mir::tool::moca_init_options mo;
    auto* moca_init = mir::tool::add_moca_init_command(app, mo);

    mir::tool::bench_sqrt_options bo;
    auto* bench = app.add_subcommand(
        "bench-sqrt", "accuracy and cost of every square-root method (CSV, JSON, SVG plots; docs/sqrt-benchmark.md)");
    bench->add_option("--out", bo.out, "output directory (default sqrt-bench)");
    bench->add_flag("--full", bo.full, "the full grid: every method up to d = 4096 (hours)");
    bench->add_option("--dims", bo.dims, "sizes of the main grid, e.g. 64,256 (default 64-1024, plus exact at 2048/4096)")
        ->delimiter(',');
    bench->add_option("--kappas", bo.kappas, "condition numbers per covariance (default 1e2,1e4,...,1e12)")->delimiter(',');
    bench->add_option("--from-dump", bo.from_dump, "benchmark the two covariances of one layer of this dump instead");
    bench->add_option("--layer", bo.layer, "with --from-dump: hidden-state index (default: the last)");
    bench->add_option("--seed", bo.seed, "random seed of the test matrices");
    bench->add_option("--blas-threads", bo.blas_threads, "OpenBLAS threads (default 1)")->check(CLI::Range(1, 1024));
    bench->add_flag("--quiet", bo.quiet, "no progress or summary");
    bench->add_option("--replot", bo.replot, "only redraw the SVGs of this sqrt_bench.csv into --out");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (*compute) {
            co.policy = mir::parse_outlier_policy(policy);
            co.sqrt.method = mir::parse_sqrt_method(sqrt);
            co.precision = precision == "fp32" ? mir::precision::fp32 : mir::precision::fp64;
            return mir::tool::run_compute(co);
        }
        if (*synth) {
            const auto dash = text_tokens.find('-');
            try {
                so.text_min = std::stol(text_tokens.substr(0, dash));
                so.text_max = dash == std::string::npos ? so.text_min : std::stol(text_tokens.substr(dash + 1));
            } catch (const std::exception&) {
                throw mir::argument_error("--text-tokens '" + text_tokens + "': expected MIN-MAX, e.g. 60-100");
            }
            return mir::tool::run_synth(so);
        }
        if (*inspect) return run_inspect(inspect_inputs);
        if (*moca_init) return mir::tool::run_moca_init(mo);
        if (*bench) {
            if (bo.layer >= 0 && bo.from_dump.empty()) throw mir::argument_error("--layer needs --from-dump");
            return mir::tool::run_bench_sqrt(bo);
        }
    } catch (const mir::error& e) {
        std::fprintf(stderr, "mir: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mir: error: %s\n", e.what());
        return 1;
    }
    return 0;
}

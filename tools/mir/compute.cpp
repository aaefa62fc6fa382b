#include "compute.hpp"

#include <mir/source/dump.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "layers.hpp"
#include "plot.hpp"

namespace mir::tool {

layer_result compute_layer_from_files(const dump_summary& d, int layer, const layer_options& opt) {
    const auto replay = [&](auto&& sink) { d.replay_layer(layer, sink); };
    if (opt.precision == precision::fp32) return compute_layer_multipass<float>(replay, d.hidden_size(), opt);
    return compute_layer_multipass<double>(replay, d.hidden_size(), opt);
}

namespace {

std::string describe_method(const compute_options& o) {
    return std::string(to_string(o.sqrt.method)) + " square root, " + std::string(to_string(o.policy)) + " outliers, " +
           (o.precision == precision::fp64 ? "fp64" : "fp32") + " accumulation";
}

void print_table(const mir_result& r, const compute_options& o, const dump_summary& d) {
    std::printf("%zu file(s), hidden size %td, %d hidden-state indices; %s\n", d.files().size(), d.hidden_size(),
                d.num_indices(), describe_method(o).c_str());
    if (o.sqrt.method == sqrt_method::reference_fast) {
        std::printf(
            "note: --sqrt reference-fast reproduces the official default (\"fast\") mode in exact arithmetic: its\n"
            "      square-root loop returns its input, so Tr(Sv St) stands where Tr (Sv St)^1/2 belongs. These are\n"
            "      not Fréchet distances; use them only to compare with published numbers (SPEC §3).\n");
    }
    std::printf("%5s %9s %9s %8s %8s %11s %13s %13s %13s\n", "layer", "vis_rows", "txt_rows", "vis_out", "txt_out",
                "alpha", "fid", "mean_term", o.sqrt.method == sqrt_method::reference_fast ? "trace_prod" : "trace_sqrt");
    for (const auto& l : r.layers) {
        std::printf("%5d %9td %9td %8td %8td %11.5g %13.6g %13.6g %13.6g\n", l.layer, l.vision.rows, l.text.rows,
                    l.vision.outliers, l.text.outliers, l.alpha, l.fid, l.terms.mean_term, l.terms.trace_sqrt);
    }
    std::printf("MIR = %.6f\n", r.mir);
}

}  // namespace

std::string result_json(const mir_result& r, const compute_options& o, const dump_summary& d) {
    nlohmann::ordered_json j;
    j["mir"] = r.mir;
    j["sqrt"] = std::string(to_string(o.sqrt.method));
    if (is_iterative(o.sqrt.method)) {
        j["sqrt_tol"] = o.sqrt.tol > 0 ? o.sqrt.tol : default_sqrt_tol<double>();
        j["sqrt_max_iter"] = o.sqrt.max_iter;
    }
    j["outliers"] = std::string(to_string(o.policy));
    j["precision"] = o.precision == precision::fp64 ? "fp64" : "fp32";
    j["hidden_size"] = d.hidden_size();
    j["files"] = d.files().size();
    j["fid_sum"] = r.fid_sum;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : r.layers) {
        nlohmann::ordered_json e;
        e["layer"] = l.layer;
        e["fid"] = l.fid;
        e["mean_term"] = l.terms.mean_term;
        e["trace_vision"] = l.terms.trace_1;
        e["trace_text"] = l.terms.trace_2;
        e["trace_sqrt"] = l.terms.trace_sqrt;
        e["alpha"] = l.alpha;
        e["vision_rows"] = l.vision.rows;
        e["text_rows"] = l.text.rows;
        e["vision_outliers"] = l.vision.outliers;
        e["text_outliers"] = l.text.outliers;
        e["sqrt_route"] = std::string(to_string(l.terms.route));
        if (is_iterative(o.sqrt.method)) {
            e["sqrt_iterations"] = l.terms.sqrt_iterations;
            e["sqrt_residual"] = l.terms.sqrt_residual;
            e["sqrt_status"] = std::string(to_string(l.terms.sqrt_outcome));
        } else if (o.sqrt.method == sqrt_method::pade || o.sqrt.method == sqrt_method::taylor) {
            e["sqrt_residual"] = l.terms.sqrt_residual;
        }
        layers.push_back(std::move(e));
    }
    j["layers"] = std::move(layers);
    return j.dump(2) + "\n";
}

int run_compute(const compute_options& o) {
    std::vector<std::filesystem::path> inputs(o.inputs.begin(), o.inputs.end());
    const dump_summary d = dump_source::open(inputs);
    const std::vector<int> layers = parse_layers(o.layers, d.num_indices());
    const bool progress = !o.quiet && isatty(STDERR_FILENO);
    const bool json_stdout = o.json == "-";

    std::vector<layer_result> results(layers.size());
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex mu;
    std::exception_ptr failure;
    const auto t0 = std::chrono::steady_clock::now();
    const auto worker = [&] {
        for (std::size_t i = next++; i < layers.size(); i = next++) {
            try {
                layer_options lo;
                lo.policy = o.policy;
                lo.sqrt = o.sqrt;
                lo.precision = o.precision;
                lo.layer = layers[i];
                results[i] = compute_layer_from_files(d, layers[i], lo);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!failure) failure = std::current_exception();
                next = layers.size();
                return;
            }
            const std::size_t n = ++done;
            if (progress) {
                std::lock_guard<std::mutex> lock(mu);
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::fprintf(stderr, "\r%zu files, %zu/%zu layers done, ETA %.0f s   ", d.files().size(), n,
                             layers.size(), s / static_cast<double>(n) * static_cast<double>(layers.size() - n));
            }
        }
    };
    const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(layers.size())));
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (progress) std::fprintf(stderr, "\n");
    if (failure) std::rethrow_exception(failure);

    const mir_result r = aggregate(std::move(results));
    if (!json_stdout) print_table(r, o, d);
    if (!o.json.empty()) {
        const std::string doc = result_json(r, o, d);
        if (json_stdout) {
            std::fwrite(doc.data(), 1, doc.size(), stdout);
        } else {
            std::ofstream out(o.json, std::ios::binary);
            if (!(out << doc)) throw file_error(o.json + ": cannot write the JSON output");
        }
    }
    if (!o.plot.empty()) {
        std::ofstream out(o.plot, std::ios::binary);
        if (!(out << fid_plot_svg(r, describe_method(o) + ", " + std::to_string(d.files().size()) + " files"))) {
            throw file_error(o.plot + ": cannot write the plot");
        }
        if (!json_stdout && !o.quiet) std::printf("plot written to %s\n", o.plot.c_str());
    }
    return 0;
}

}  // namespace mir::tool

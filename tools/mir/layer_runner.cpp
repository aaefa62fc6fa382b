#include "layer_runner.hpp"

#include <mir/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

namespace mir::tool {

thread_plan plan_and_apply_threads(const thread_options& want, std::size_t layers, index_t d, int groups) {
    thread_request r{want.layers, want.blas};
    const char* env = std::getenv("OPENBLAS_NUM_THREADS");
    const bool from_env = r.blas_threads == 0 && env != nullptr && *env != '\0';
    if (from_env) r.blas_threads = std::max(1, blas_threads());  // what OpenBLAS read from it
    std::uint64_t memory = available_memory();
    // layer_worker_bytes counts six d × d matrices; the groups add two per group (one per modality).
    if (groups > 0) memory = memory / static_cast<std::uint64_t>(6 + 2 * groups) * 6;
    const thread_plan p = plan_threads(r, available_cores(), static_cast<int>(layers), d, memory);
    if (!from_env) set_blas_threads(p.blas_threads);
    return p;
}

void run_layers(const std::vector<int>& layers, int threads, const std::function<void(std::size_t)>& fn,
                const layer_progress& progress) {
    const std::size_t n = layers.size();
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex mu;
    std::exception_ptr failure;
    const auto t0 = std::chrono::steady_clock::now();
    const auto worker = [&] {
        for (std::size_t i = next++; i < n; i = next++) {
            try {
                try {
                    fn(i);
                } catch (const mir::error&) {
                    throw;
                } catch (const std::bad_alloc&) {
                    throw mir::error(mir::error_kind::numerical,
                                     "layer " + std::to_string(layers[i]) + ": out of memory (std::bad_alloc)");
                } catch (const std::exception& e) {
                    throw mir::error(mir::error_kind::numerical, "layer " + std::to_string(layers[i]) + ": " + e.what());
                }
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!failure) failure = std::current_exception();
                next = n;
                return;
            }
            const std::size_t k = ++done;
            if (progress.show) {
                std::lock_guard<std::mutex> lock(mu);
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::fprintf(stderr, "\r%s, %zu/%zu layers done, ETA %.0f s   ", progress.what.c_str(), k, n,
                             s / static_cast<double>(k) * static_cast<double>(n - k));
            }
        }
    };
    const int workers = std::max(1, std::min<int>(threads, static_cast<int>(n)));
    std::vector<std::thread> pool;
    for (int t = 1; t < workers; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (progress.show) std::fprintf(stderr, "\n");
    if (failure) std::rethrow_exception(failure);
}

}  // namespace mir::tool

// mir/backend/threads.hpp: the plan that divides the cores between layer
// workers and BLAS threads, and the BLAS thread control of the backend.
#include <catch2/catch.hpp>

#include <mir/backend/threads.hpp>

TEST_CASE("threads: auto gives each layer a core first and BLAS what is left", "[threads]") {
    using mir::plan_threads;
    using mir::thread_request;
    // 2 cores, 4 layers: two layer workers, one BLAS thread each (never more busy threads than cores).
    auto p = plan_threads({}, 2, 4);
    CHECK(p.layer_workers == 2);
    CHECK(p.blas_threads == 1);
    // 16 cores, 5 layers: five workers, 3 BLAS threads each (15 <= 16).
    p = plan_threads({}, 16, 5);
    CHECK(p.layer_workers == 5);
    CHECK(p.blas_threads == 3);
    // One layer: all cores to BLAS.
    p = plan_threads({}, 8, 1);
    CHECK(p.layer_workers == 1);
    CHECK(p.blas_threads == 8);
    // Given workers: BLAS gets the cores left per worker; given BLAS threads are kept as given.
    p = plan_threads({1, 0}, 4, 32);
    CHECK(p.layer_workers == 1);
    CHECK(p.blas_threads == 4);
    p = plan_threads({8, 0}, 4, 32);  // more workers than cores, as asked: one BLAS thread each
    CHECK(p.layer_workers == 8);
    CHECK(p.blas_threads == 1);
    p = plan_threads({0, 2}, 4, 32);
    CHECK(p.layer_workers == 4);
    CHECK(p.blas_threads == 2);
    // Given workers beyond the layers: only as many as there are layers.
    CHECK(plan_threads({6, 0}, 8, 3).layer_workers == 3);
    // Nonsense inputs are clamped, never zero.
    p = plan_threads({}, 0, 0);
    CHECK(p.layer_workers == 1);
    CHECK(p.blas_threads == 1);
}

TEST_CASE("threads: auto holds no more layer workers than memory allows", "[threads]") {
    // d = 4096: 6 d x d fp64 matrices per worker = 805 MB; 2 GB available -> 2 workers of 16 cores' 32 layers.
    const std::int64_t d = 4096;
    CHECK(mir::layer_worker_bytes(d) == 6ull * 4096 * 4096 * 8);
    auto p = mir::plan_threads({}, 16, 32, d, 2'000'000'000ull);
    CHECK(p.layer_workers == 2);
    CHECK(p.blas_threads == 8);
    // Less than one worker's worth: still one.
    p = mir::plan_threads({}, 16, 32, d, 1000);
    CHECK(p.layer_workers == 1);
    CHECK(p.blas_threads == 16);
    // Unknown memory (0): no bound. A given worker count is not bounded by memory.
    CHECK(mir::plan_threads({}, 16, 32, d, 0).layer_workers == 16);
    CHECK(mir::plan_threads({4, 0}, 16, 32, d, 1000).layer_workers == 4);
}

TEST_CASE("threads: the machine's cores and the backend's BLAS threads", "[threads]") {
    CHECK(mir::available_cores() >= 1);
    const int before = mir::blas_threads();
    CHECK(before >= 1);
    CHECK_FALSE(mir::set_blas_threads(0));  // refused, nothing changes
    CHECK(mir::blas_threads() == before);
    if (mir::set_blas_threads(2)) {  // OpenBLAS (the LAPACK build): it is told
        CHECK(mir::blas_threads() == 2);
        CHECK(mir::set_blas_threads(before));
        CHECK(mir::blas_threads() == before);
    } else {
        WARN("this backend (" << mir::backend::active::name()
                              << ") cannot be told its threads: "
                                 "set_blas_threads returned false");
        CHECK(mir::blas_threads() == before);
    }
}

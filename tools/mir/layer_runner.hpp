// tools/mir/layer_runner.hpp — layers computed in parallel, for `compute`
// and `moca-init`: a pool of --threads workers takes the layers in order;
// the first failure stops the others and is rethrown, naming its layer.
#pragma once

#include <mir/backend/threads.hpp>
#include <mir/config.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "cli_options.hpp"

namespace mir::tool {

/// The run's plan (mir::plan_threads over the cores and memory this process
/// has, for `layers` layers at hidden size d), with the BLAS threads set
/// process-wide accordingly. --blas-threads auto with OPENBLAS_NUM_THREADS
/// set leaves OpenBLAS as that variable made it.
/// `groups` > 0: each layer also holds that many groups' moments (--ci), which
/// counts against the memory a layer worker needs.
thread_plan plan_and_apply_threads(const thread_options& want, std::size_t layers, index_t d, int groups = 0);

struct layer_progress {
    bool show = false;   ///< print "\r<what>, i/n layers done, ETA s" on stderr after each layer
    std::string what;    ///< e.g. "6 files"
};

/// Calls fn(i) for i in [0, layers.size()) on min(threads, layers.size())
/// workers (this thread is one). fn writes its own result slot i. A mir::error
/// from fn is rethrown as it is (its message names the layer already); any
/// other exception becomes a mir::error "layer L: ...", L = layers[i].
void run_layers(const std::vector<int>& layers, int threads, const std::function<void(std::size_t)>& fn,
                const layer_progress& progress = {});

}  // namespace mir::tool

// tools/mir/progress_display.hpp — `--progress`: what a long run is doing,
// on stderr, while it does it.
//
// The library reports every chunk of rows and every square-root iteration
// (mir/progress.hpp); this turns the reports of the layers in flight into
//   tty   one line redrawn in place (at most every --progress-interval
//         seconds, and at least once a second by a ticker thread, also
//         while a square root runs), then a summary line;
//   json  one JSON object per update (a line each), then {"event":"done"}:
//         elapsed_s, layers_done, bytes_done and fraction never decrease.
// The work is counted in rows replayed (bytes = rows × row size): a layer
// needs 2 passes over its rows until its first pass shows an exact median
// needs more, so the expected total can grow; the fraction shown is kept
// monotone all the same.
#pragma once

#include <mir/element.hpp>
#include <mir/progress.hpp>
#include <mir/source/dump_source.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

namespace mir::tool {

enum class progress_mode { never, tty, json };

struct progress_options {
    std::string mode = "auto";  // auto | always | never | json
    double interval = -1.0;     // seconds between updates; < 0: 0.25 (tty), 1 (json)
};

/// --progress and --progress-interval on a subcommand.
void add_progress_options(CLI::App& app, progress_options& o);

/// auto: tty when stderr is a terminal (and not --quiet), else never.
progress_mode resolve_progress_mode(const progress_options& o, bool quiet);

/// When the process started (for elapsed_s: the first update's time says
/// how long the user waited for it).
std::chrono::steady_clock::time_point process_start();

/// What the run reads: for the counts and the ETA.
struct progress_work {
    std::vector<int> layers;             // the layers, in the order of their slots
    index_t rows_per_pass = 0;           // rows of one pass over one layer (every file)
    double bytes_per_row = 0.0;          // on disk, averaged over the files
    std::vector<index_t> file_row_ends;  // cumulative rows at the end of each file
};

/// The work of `layers` (hidden-state indices) over the files of `d`.
progress_work progress_work_of(const dump_source& d, const std::vector<int>& layers);

class progress_display {
public:
    progress_display(progress_mode mode, progress_work work, const progress_options& o);
    ~progress_display();
    progress_display(const progress_display&) = delete;
    progress_display& operator=(const progress_display&) = delete;

    /// The callback for the layer in slot `slot` (thread-safe).
    progress_callback callback(std::size_t slot);
    /// Layer `slot` has its result.
    void layer_done(std::size_t slot);
    /// The last update and the summary line (or {"event":"done"}); stops the ticker.
    void finish();

private:
    struct slot_state {
        enum { waiting, running, done } state = waiting;
        progress_event last;
        int passes = 2;
    };
    using clock = std::chrono::steady_clock;

    void on_event(std::size_t slot, const progress_event& e);
    void draw_locked(bool final);
    void tick();

    progress_mode mode_;
    progress_work work_;
    double interval_;
    std::mutex mu_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool finished_ = false;
    std::vector<slot_state> slots_;
    clock::time_point last_draw_{};
    double shown_fraction_ = 0.0;
    double shown_bytes_ = 0.0;
    std::size_t width_ = 0;  // of the last tty line
    std::thread ticker_;
};

}  // namespace mir::tool

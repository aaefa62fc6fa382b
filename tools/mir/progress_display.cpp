#include "progress_display.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mir::tool {

progress_work progress_work_of(const dump_source& d, const std::vector<int>& layers) {
    progress_work w;
    w.layers = layers;
    double bytes = 0.0;
    index_t rows = 0;
    for (const dump_file& f : d.dump_files()) {
        const index_t r = f.vision_rows() + f.text_rows();
        rows += r;
        w.file_row_ends.push_back(rows);
        bytes += static_cast<double>(r) * static_cast<double>(f.hidden_size()) *
                 static_cast<double>(io::size_of(f.dtype()));
    }
    w.rows_per_pass = rows;
    w.bytes_per_row = rows > 0 ? bytes / static_cast<double>(rows) : 0.0;
    return w;
}

namespace {

const std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();

std::string human_bytes(double b) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000.0 && u < 4) {
        b /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
    return buf;
}

std::string human_seconds(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const auto t = static_cast<long long>(std::llround(s));
    char buf[32];
    if (t >= 3600) {
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t / 60) % 60);
    } else if (t >= 60) {
        std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%llds", t);
    }
    return buf;
}

}  // namespace

std::chrono::steady_clock::time_point process_start() { return started_at; }

void add_progress_options(CLI::App& app, progress_options& o) {
    app.add_option("--progress", o.mode,
                   "progress on stderr: auto (a line redrawn in place when stderr is a terminal), always, never, "
                   "or json (one JSON object per update)")
        ->check(CLI::IsMember({"auto", "always", "never", "json"}));
    app.add_option("--progress-interval", o.interval,
                   "seconds between progress updates (0: at every chunk of rows; default 0.25 on a terminal, 1 "
                   "for json)")
        ->check(CLI::Range(0.0, 3600.0));
}

progress_mode resolve_progress_mode(const progress_options& o, bool quiet) {
    if (o.mode == "json") return progress_mode::json;
    if (o.mode == "always") return progress_mode::tty;
    if (o.mode == "never" || quiet) return progress_mode::never;
    return isatty(STDERR_FILENO) ? progress_mode::tty : progress_mode::never;
}

progress_display::progress_display(progress_mode mode, progress_work work, const progress_options& o)
    : mode_(mode), work_(std::move(work)), slots_(work_.layers.size()) {
    interval_ = o.interval >= 0 ? o.interval : (mode == progress_mode::json ? 1.0 : 0.25);
    if (mode_ == progress_mode::never) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        draw_locked(false);  // at once: the user sees the run has started
    }
    ticker_ = std::thread([this] { tick(); });
}

progress_display::~progress_display() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        // Cut short (an error follows): end the redrawn line so the message starts on its own.
        if (mode_ == progress_mode::tty && !finished_ && width_ > 0) std::fputs("\n", stderr);
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

progress_callback progress_display::callback(std::size_t slot) {
    if (mode_ == progress_mode::never) return {};
    return [this, slot](const progress_event& e) { on_event(slot, e); };
}

void progress_display::on_event(std::size_t slot, const progress_event& e) {
    std::lock_guard<std::mutex> lock(mu_);
    slot_state& s = slots_.at(slot);
    s.state = slot_state::running;
    if (e.stage == progress_stage::square_root && s.last.pass > 0) {
        s.last.stage = e.stage;  // keep the pass count: all passes are done
        s.last.iteration = e.iteration;
        s.last.residual = e.residual;
    } else {
        s.last = e;
    }
    s.passes = std::max(s.passes, e.passes);
    if (std::chrono::duration<double>(clock::now() - last_draw_).count() >= interval_) draw_locked(false);
}

void progress_display::layer_done(std::size_t slot) {
    if (mode_ == progress_mode::never) return;
    std::lock_guard<std::mutex> lock(mu_);
    slots_.at(slot).state = slot_state::done;
    draw_locked(false);
}

void progress_display::finish() {
    if (mode_ == progress_mode::never) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (finished_) return;
        draw_locked(true);
        finished_ = true;
        stop_ = true;
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

void progress_display::tick() {
    // At least once a second (and at the interval when shorter), also while
    // no chunk arrives: a square root, a slow disk.
    const double period = std::clamp(interval_ > 0 ? interval_ : 0.25, 0.05, 1.0);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
        wake_.wait_for(lock, std::chrono::duration<double>(period));
        if (stop_) break;
        if (std::chrono::duration<double>(clock::now() - last_draw_).count() >= period * 0.9) draw_locked(false);
    }
}

void progress_display::draw_locked(bool final) {
    if (finished_) return;
    const auto now = clock::now();
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - process_start()).count();
    const auto per_pass = static_cast<double>(work_.rows_per_pass);
    double rows_done = 0, rows_expected = 0;
    std::size_t layers_done = 0;
    for (const slot_state& s : slots_) {
        rows_expected += s.passes * per_pass;
        if (s.state == slot_state::done) {
            rows_done += s.passes * per_pass;
            ++layers_done;
        } else if (s.state == slot_state::running) {
            rows_done += s.last.stage == progress_stage::square_root
                             ? s.passes * per_pass
                             : (s.last.pass - 1) * per_pass + static_cast<double>(s.last.rows);
        }
    }
    if (final) rows_done = rows_expected;
    const double bytes_done = std::max(shown_bytes_, rows_done * work_.bytes_per_row);
    const double bytes_expected = std::max(bytes_done, rows_expected * work_.bytes_per_row);
    shown_bytes_ = bytes_done;
    double fraction = rows_expected > 0 ? std::min(1.0, rows_done / rows_expected) : 0.0;
    fraction = std::max(shown_fraction_, final ? 1.0 : fraction);
    shown_fraction_ = fraction;
    const double run_s = elapsed;  // the rate over the whole run, reading included
    const double rate = run_s > 0 ? bytes_done / run_s : 0.0;
    const double eta = fraction > 0 ? run_s * (1.0 - fraction) / fraction : -1.0;
    const std::size_t files = work_.file_row_ends.size();
    const auto files_done = [&](index_t rows) {
        return static_cast<std::size_t>(std::upper_bound(work_.file_row_ends.begin(), work_.file_row_ends.end(), rows) -
                                        work_.file_row_ends.begin());
    };

    if (mode_ == progress_mode::json) {
        nlohmann::ordered_json j;
        if (final) j["event"] = "done";
        j["elapsed_s"] = elapsed;
        j["layers_done"] = layers_done;
        j["layers"] = slots_.size();
        nlohmann::ordered_json flight = nlohmann::ordered_json::array();
        for (std::size_t i = 0; i < slots_.size() && !final; ++i) {
            const slot_state& s = slots_[i];
            if (s.state != slot_state::running) continue;
            nlohmann::ordered_json f;
            f["layer"] = work_.layers[i];
            f["stage"] = std::string(to_string(s.last.stage));
            f["pass"] = s.last.pass;
            f["passes"] = s.passes;
            if (s.last.stage == progress_stage::square_root) {
                f["iteration"] = s.last.iteration;
            } else {
                f["files_done"] = files_done(s.last.rows);
            }
            flight.push_back(std::move(f));
        }
        j["in_flight"] = std::move(flight);
        j["files"] = files;
        j["bytes_done"] = bytes_done;
        j["bytes_expected"] = bytes_expected;
        j["fraction"] = fraction;
        j["bytes_per_s"] = rate;
        j["eta_s"] = final      ? nlohmann::ordered_json(0.0)
                     : eta >= 0 ? nlohmann::ordered_json(eta)
                                : nlohmann::ordered_json(nullptr);  // null: unknown yet
        const std::string line = j.dump() + "\n";
        std::fputs(line.c_str(), stderr);
        std::fflush(stderr);
        return;
    }

    std::string line;
    if (final) {
        line = "mir: " + std::to_string(slots_.size()) + (slots_.size() == 1 ? " layer, " : " layers, ") +
               std::to_string(files) + " files, " + human_bytes(bytes_done) + " read in " + human_seconds(elapsed) +
               " (" + human_bytes(rate) + "/s)";
    } else {
        line = "mir: " + std::to_string(layers_done) + "/" + std::to_string(slots_.size()) + " layers";
        std::size_t in_flight = 0;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            const slot_state& s = slots_[i];
            if (s.state != slot_state::running) continue;
            if (in_flight++ > 0) continue;
            line += " | layer " + std::to_string(work_.layers[i]) + ": ";
            if (s.last.stage == progress_stage::square_root) {
                line += "square root";
                if (s.last.iteration > 0) line += ", iteration " + std::to_string(s.last.iteration);
            } else {
                line += "pass " + std::to_string(s.last.pass) + "/" + std::to_string(s.passes) + " " +
                        std::string(to_string(s.last.stage)) + ", " + std::to_string(files_done(s.last.rows)) + "/" +
                        std::to_string(files) + " files";
            }
        }
        if (in_flight > 1) line += " (+" + std::to_string(in_flight - 1) + " more)";
        char pct[16];
        std::snprintf(pct, sizeof pct, "%.0f%%", 100.0 * fraction);
        line += " | " + human_bytes(bytes_done) + ", " + human_bytes(rate) + "/s | " + pct +
                (eta >= 0 ? ", ETA " + human_seconds(eta) : std::string()) + " | " + human_seconds(elapsed);
    }
    // Redrawn in place: \r, the line, and spaces over what a longer last line left.
    std::string out = "\r" + line;
    if (line.size() < width_) out.append(width_ - line.size(), ' ');
    width_ = line.size();
    if (final) out += "\n";
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
}

}  // namespace mir::tool

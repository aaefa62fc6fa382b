// mir/stats/layer_passes.hpp — one layer's exact statistics as explicit
// passes over its rows, where the rows of a pass may be split among
// participants (threads, processes, MPI ranks, shards on other machines)
// whose contributions merge exactly.
//
// The replace-median rule needs, before any moment, the global 3σ rule (the
// lower median and σ of every row norm) and the global per-dimension median;
// no single pass over a shard can know them. So the computation is a short
// sequence of passes, each of which every participant runs over its own rows:
//
//   pass 1  row norms (→ α, the 3σ rules, the fp32 scale) and, when the
//           plan needs the median, its first 11-bit digit
//   pass 2  moments of the rows that enter as they are (the 3σ decision
//           re-made per row from the global rule); the next median digit
//   pass 3+ only while a median needs more digits (f32 rows: 4 in all,
//           f64: 6; f16 and bf16 are done after pass 2)
//
// One participant (what compute_layer_statistics_multipass does):
//
//     mir::layer_passes<double> p(d, policy, layer);
//     while (!p.done()) { for (auto& rows : chunks) p.add(is_vision, rows); p.end_pass(); }
//     mir::layer_statistics s = p.finish();
//
// Several: each pass, every participant starts from `state.fork()` (what
// the passes before decided, with nothing of this pass), adds its own rows,
// and the copies are merged back into the state they forked from, in
// participant order — `for (auto& p : parts) state.merge(p);` — on which
// end_pass() runs. (The state keeps what later passes do not recompute:
// pass 2's moments stay with it through the median passes.) The result equals one participant that saw every row in
// that order: counts, norms, α, the 3σ decisions and the medians exactly, the moments to rounding (Chan's merge).
// Memory: one norm per row until pass 1 ends; then a d × d moment matrix per modality, d × 2048 median counters while a
// median is pending, and the final rows themselves when fewer than d remain (the small-side square root needs them).
//
// Groups (for the jackknife of mir/metric/uncertainty.hpp): constructed with
// G > 0 groups, the state also keeps, per group of samples, the count and
// norm sum of its rows (pass 1) and the moments and outlier count of its
// rows (pass 2; G × d × d per modality). Before a sample's rows the driver
// calls set_group(g); leave_out(g) then gives the statistics without group
// g's rows, with α recomputed from the other groups' text norms and the 3σ
// rules and median of all rows kept (what the interval is conditional on).
// The full statistics (finish()) are the groups' moments merged in order.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/progress.hpp"
#include "mir/stats/gaussian.hpp"
#include "mir/stats/layer_statistics.hpp"
#include "mir/stats/median.hpp"
#include "mir/stats/modality.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/norms.hpp"
#include "mir/stats/outliers.hpp"
#include "mir/stats/scale.hpp"

namespace mir {

/// One layer's exact statistics, pass by pass, mergeable across participants.
template <accumulator_type Acc = double>
class layer_passes {
public:
    /// The most groups a state may have (a loaded state with more is refused).
    static constexpr int max_groups = 1000;

    /// `groups` > 0: also keep per-group statistics for leave_out() (see above).
    layer_passes(index_t dim, outlier_policy policy = outlier_policy::replace_median, int layer = -1, int groups = 0)
        : dim_(dim),
          policy_(policy),
          plan_(plan_of(policy)),
          layer_(layer),
          groups_(groups),
          vis_(dim, "vision", layer),
          txt_(dim, "text", layer) {
        if (dim <= 0) throw shape_error("layer_passes: the hidden size must be positive, got " + std::to_string(dim));
        if (groups < 0 || groups == 1 || groups > max_groups) {
            throw argument_error("layer_passes: " + std::to_string(groups) + " groups; a jackknife needs 2 to " +
                                 std::to_string(max_groups) + " (0: no groups)");
        }
        for (side* s : {&vis_, &txt_}) s->resize_groups(groups, false);
        if (plan_.needs_median()) {
            vis_.selector.begin_pass();
            txt_.selector.begin_pass();
        }
    }

    [[nodiscard]] index_t dim() const noexcept { return dim_; }
    [[nodiscard]] outlier_policy policy() const noexcept { return policy_; }
    [[nodiscard]] int layer() const noexcept { return layer_; }
    /// The pass in progress (1-based); passes_done() + 1 unless done().
    [[nodiscard]] int pass() const noexcept { return passes_ + 1; }
    [[nodiscard]] int passes_done() const noexcept { return passes_; }
    /// No pass is left: finish() may be called.
    [[nodiscard]] bool done() const noexcept {
        return passes_ >= 2 && !vis_.median_pending() && !txt_.median_pending();
    }
    /// What the pass in progress computes.
    [[nodiscard]] progress_stage stage() const noexcept {
        return passes_ == 0 ? progress_stage::norms : passes_ == 1 ? progress_stage::moments : progress_stage::median;
    }
    /// Passes in all, as far as known: 2 until pass 1 shows whether a median needs more.
    [[nodiscard]] int passes_expected() const noexcept {
        int p = std::max(2, passes_ + (done() ? 0 : 1));
        for (const side* s : {&vis_, &txt_}) {
            if (s->median_pending()) p = std::max(p, passes_ + std::max(1, s->selector.passes_left()));
        }
        return p;
    }
    /// Rows of one pass, both modalities (0 until pass 1 has ended).
    [[nodiscard]] index_t rows_per_pass() const noexcept { return vis_.rows + txt_.rows; }
    /// Peak memory of the two median selectors (their counters).
    [[nodiscard]] std::size_t median_bytes() const noexcept { return median_bytes_; }
    /// Groups of samples kept for leave_out() (0: none).
    [[nodiscard]] int groups() const noexcept { return groups_; }

    /// Rows added from now on belong to group g (with groups(); else g must be 0).
    void set_group(int g) {
        if (g < 0 || g >= std::max(1, groups_)) {
            throw argument_error("layer_passes: group " + std::to_string(g) + " of a state with " +
                                     std::to_string(groups_) + " groups",
                                 vis_.ctx.where());
        }
        group_ = g;
    }

    /// Rows of one modality for the pass in progress (any row_view<T>; any
    /// chunking; a pass must present the rows of pass 1 again, in order).
    template <element T>
    void add(bool is_vision, const row_view<T>& rows) {
        if (done()) throw argument_error("layer_passes: add() after the last pass", vis_.ctx.where());
        side& s = is_vision ? vis_ : txt_;
        validate_view(rows, std::string(s.ctx.modality) + " rows");
        detail::require_columns(rows.cols, dim_, s.ctx);
        row_context c = s.ctx;
        c.row_offset = s.seen;
        if (passes_ == 0) {
            const std::size_t before = s.norms.size();
            append_row_norms(rows, s.norms, c);
            if (groups_ > 0) {
                const auto g = static_cast<std::size_t>(group_);
                s.g_rows[g] += static_cast<std::uint64_t>(rows.rows);
                for (std::size_t i = before; i < s.norms.size(); ++i) s.g_norm_sum[g] += s.norms[i];
            }
        } else if (passes_ == 1) {
            if (s.seen + rows.rows > s.rows) {
                throw argument_error(std::string(s.ctx.modality) +
                                         " rows: the source presented more rows on a later pass",
                                     s.ctx.where());
            }
            add_moments(s, rows, c);
        }
        if (s.selector_in_pass(plan_, passes_)) s.selector.add(rows);
        s.seen += rows.rows;
    }

    /// Adds another participant's contributions to the pass in progress: it
    /// must have started from fork() of this state or of an identical one
    /// (same pass, rules and median digits); its rows count as coming after
    /// those merged before.
    void merge(const layer_passes& other) {
        if (other.dim_ != dim_ || other.policy_ != policy_ || other.layer_ != layer_ || other.passes_ != passes_ ||
            other.groups_ != groups_) {
            throw argument_error(
                "layer_passes: merging the state of layer " + std::to_string(other.layer_) + ", pass " +
                std::to_string(other.pass()) + " (hidden size " + std::to_string(other.dim_) + ") into layer " +
                std::to_string(layer_) + ", pass " + std::to_string(pass()) + " (hidden size " + std::to_string(dim_) +
                (other.groups_ != groups_
                     ? ", " + std::to_string(groups_) + " groups against " + std::to_string(other.groups_)
                     : std::string()) +
                "); the participants are out of step");
        }
        for (auto [s, o] : {std::pair<side*, const side*>{&vis_, &other.vis_}, {&txt_, &other.txt_}}) {
            if (passes_ > 0 &&
                (o->rows != s->rows || o->rule.median != s->rule.median || o->rule.sigma != s->rule.sigma)) {
                throw argument_error("layer_passes: merging " + std::string(s->ctx.modality) +
                                         " contributions that started from a different pass-1 result",
                                     s->ctx.where());
            }
            if (passes_ == 0) {
                s->norms.insert(s->norms.end(), o->norms.begin(), o->norms.end());
                for (std::size_t g = 0; g < s->g_rows.size(); ++g) {
                    s->g_rows[g] += o->g_rows[g];
                    s->g_norm_sum[g] += o->g_norm_sum[g];
                }
            }
            if (passes_ == 1) {
                s->m.merge(o->m);  // Chan; an empty side takes the other's as it is
                for (std::size_t g = 0; g < s->gm.size(); ++g) {
                    s->gm[g].merge(o->gm[g]);
                    s->g_outliers[g] += o->g_outliers[g];
                }
                s->final_rows.insert(s->final_rows.end(), o->final_rows.begin(), o->final_rows.end());
                s->final_group.insert(s->final_group.end(), o->final_group.begin(), o->final_group.end());
            }
            if (s->selector_in_pass(plan_, passes_)) s->selector.merge(o->selector);
            s->seen += o->seen;
        }
    }

    /// Ends the pass in progress (on the merged state) and begins the next, if any.
    void end_pass() {
        if (done()) throw argument_error("layer_passes: end_pass() after the last pass", vis_.ctx.where());
        if (passes_ == 0) {
            end_norms_pass();
        } else {
            for (side* s : {&vis_, &txt_}) {
                if (passes_ == 1 && s->seen != s->rows) {
                    throw argument_error(std::string(s->ctx.modality) + " rows: the source presented " +
                                             std::to_string(s->seen) + " rows on pass 2 but " +
                                             std::to_string(s->rows) + " on pass 1",
                                         s->ctx.where());
                }
                if (passes_ == 1 && groups_ > 0) end_grouped_moments(*s);
                if (s->selector_in_pass(plan_, passes_)) s->selector.end_pass();
            }
        }
        ++passes_;
        for (side* s : {&vis_, &txt_}) {
            s->seen = 0;
            if (s->selector_in_pass(plan_, passes_)) s->selector.begin_pass();
        }
    }

    /// A participant's starting point for the pass in progress: the state
    /// every earlier pass decided, with none of this pass's contributions.
    [[nodiscard]] layer_passes fork() const {
        for (const side* s : {&vis_, &txt_}) {
            bool groups_hold_rows = false;
            for (const auto& g : s->gm) groups_hold_rows = groups_hold_rows || (passes_ == 1 && g.count() != 0);
            if (s->seen != 0 || !s->norms.empty() || (passes_ == 1 && s->m.count() != 0) || groups_hold_rows) {
                throw argument_error("layer_passes: fork() of a state that holds rows of the pass in progress",
                                     s->ctx.where());
            }
        }
        layer_passes p = *this;
        if (passes_ >= 2) {  // median passes: the moments stay with the merged state
            for (side* s : {&p.vis_, &p.txt_}) {
                const double scale = s->m.scale();
                s->m = moments<Acc>(dim_);
                s->m.set_scale(scale);
                std::vector<double>().swap(s->final_rows);
                std::vector<std::uint32_t>().swap(s->final_group);
                for (auto& g : s->gm) {
                    g = moments<Acc>(dim_);
                    g.set_scale(scale);
                }
                std::fill(s->g_outliers.begin(), s->g_outliers.end(), 0);
            }
        }
        return p;
    }

    /// The statistics, once done(); the state is spent afterwards (the
    /// replace-median stand-ins are folded into its moments).
    [[nodiscard]] layer_statistics finish() {
        if (!done()) throw argument_error("layer_passes: finish() before the last pass", vis_.ctx.where());
        if (finished_) throw argument_error("layer_passes: finish() called twice", vis_.ctx.where());
        finished_ = true;
        layer_statistics out;
        out.layer = layer_;
        out.epsilon = static_cast<double>(std::numeric_limits<Acc>::epsilon());
        out.alpha = alpha_;
        out.vision = finish_side(vis_);
        out.text = finish_side(txt_);
        return out;
    }

    /// The statistics without group g's rows, once done() and before
    /// finish(): the other groups' moments merged in order, their outliers'
    /// stand-ins (the median of all rows), α from the other groups' text
    /// norms; the 3σ rules are those of all rows. The state is not changed.
    [[nodiscard]] layer_statistics leave_out(int g) const {
        if (groups_ == 0) throw argument_error("layer_passes: leave_out() of a state without groups", vis_.ctx.where());
        if (g < 0 || g >= groups_) {
            throw argument_error("layer_passes: leave_out(" + std::to_string(g) + ") of " + std::to_string(groups_) +
                                     " groups",
                                 vis_.ctx.where());
        }
        if (!done() || finished_) {
            throw argument_error("layer_passes: leave_out() needs a state whose passes are done, before finish()",
                                 vis_.ctx.where());
        }
        const auto gi = static_cast<std::size_t>(g);
        layer_statistics out;
        out.layer = layer_;
        out.epsilon = static_cast<double>(std::numeric_limits<Acc>::epsilon());
        double text_sum = 0.0;
        std::uint64_t text_rows = 0;
        for (std::size_t h = 0; h < txt_.g_rows.size(); ++h) {
            if (h == gi) continue;
            text_sum += txt_.g_norm_sum[h];
            text_rows += txt_.g_rows[h];
        }
        if (text_rows == 0 || !(text_sum > 0.0) || !std::isfinite(text_sum)) {
            throw too_few_rows_error("without group " + std::to_string(g) + " no text row with a positive norm remains",
                                     txt_.ctx.where());
        }
        out.alpha = static_cast<double>(text_rows) / text_sum;
        out.vision = leave_out_side(vis_, gi);
        out.text = leave_out_side(txt_, gi);
        return out;
    }

    /// Every field of the state (see moments::visit_state), the two
    /// modalities' under "vision." and "text.", their moments and median
    /// selectors under "<modality>.moments." and "<modality>.median.". With
    /// it a state is saved to a file, loaded, or sent to another process
    /// (mir/source/saved_state.hpp), so participants need not share memory.
    template <class Visitor>
    void visit_state(Visitor&& v) {
        v("passes", passes_);
        v("finished", finished_);
        v("alpha", alpha_);
        v("median_bytes", median_bytes_);
        v("groups", groups_);
        for (side* s : {&vis_, &txt_}) {
            // A loader knows the group count here; a count out of range allocates nothing (check_state refuses it).
            if (groups_ >= 0 && groups_ <= max_groups && groups_ != 1) s->resize_groups(groups_, passes_ >= 1);
            const std::string p = std::string(s->ctx.modality) + ".";
            const auto in = [&](const std::string& q) {
                return [&v, q](std::string_view name, auto&& field) {
                    v(q + std::string(name), std::forward<decltype(field)>(field));
                };
            };
            v(p + "rows", s->rows);
            v(p + "rule.median", s->rule.median);
            v(p + "rule.sigma", s->rule.sigma);
            v(p + "rule.k", s->rule.k);
            v(p + "outliers", s->outliers);
            v(p + "need_median", s->need_median);
            v(p + "small", s->small);
            v(p + "seen", s->seen);
            v(p + "norms", s->norms);
            v(p + "final_rows", s->final_rows);
            s->m.visit_state(in(p + "moments."));
            s->selector.visit_state(in(p + "median."));
            if (groups_ > 0) {
                v(p + "group_rows", s->g_rows);
                v(p + "group_norm_sum", s->g_norm_sum);
                v(p + "group_outliers", s->g_outliers);
                v(p + "final_group", s->final_group);
                for (std::size_t g = 0; g < s->gm.size(); ++g) {
                    s->gm[g].visit_state(in(p + "group." + std::to_string(g) + ".moments."));
                }
            }
        }
    }

    /// Throws argument_error (prefixed with `where`) unless a loaded state
    /// is consistent, so that no later add(), merge() or finish() can read
    /// or write out of bounds.
    void check_state(const std::string& where) const {
        if (passes_ < 0 || passes_ > 7)
            throw argument_error(where + ": pass count " + std::to_string(passes_) + " out of range");
        if (groups_ < 0 || groups_ == 1 || groups_ > max_groups)
            throw argument_error(where + ": group count " + std::to_string(groups_) + " out of range");
        if (passes_ > 0 && !(alpha_ > 0.0 && std::isfinite(alpha_)))
            throw argument_error(where + ": α is not positive and finite");
        for (const side* s : {&vis_, &txt_}) {
            const std::string w = where + ": " + std::string(s->ctx.modality);
            const bool sizes_ok = s->rows >= 0 && s->seen >= 0 && s->outliers >= 0 && s->outliers <= s->rows &&
                                  (passes_ != 0 || static_cast<index_t>(s->norms.size()) == s->seen) &&
                                  (passes_ == 0 || s->norms.empty()) &&
                                  s->final_rows.size() % static_cast<std::size_t>(dim_) == 0 &&
                                  static_cast<index_t>(s->final_rows.size()) / dim_ <= s->rows &&
                                  (passes_ == 0 || s->rows >= 2) && (passes_ > 0 || s->rows == 0);
            if (!sizes_ok) throw argument_error(w + ": inconsistent row counts");
            if (!std::isfinite(s->rule.median) || !(s->rule.sigma >= 0.0) || !std::isfinite(s->rule.sigma)) {
                throw argument_error(w + ": the 3σ rule is not finite");
            }
            s->m.check_state(w);
            s->selector.check_state(w);
            check_groups(*s, w);
            if (s->selector_in_pass(plan_, passes_) != s->selector.in_pass()) {
                throw argument_error(w + ": the median selector is not in step with the passes");
            }
        }
    }

private:
    struct side {
        side(index_t d, std::string_view name, int layer) : ctx{layer, name, 0}, m(d), selector(d) {}
        row_context ctx;
        // Decided by pass 1, the same for every participant.
        index_t rows = 0;  // rows per pass
        outlier_rule rule;
        index_t outliers = 0;
        bool need_median = false;
        bool small = false;  // fewer than d final rows: keep them for the factor
        // Contributions of the pass in progress (pass 2's moments: the result).
        index_t seen = 0;
        std::vector<double> norms;       // pass 1
        moments<Acc> m;                  // pass 2
        std::vector<double> final_rows;  // pass 2 when small: the kept rows, row-major
        exact_median_selector selector;  // the digits so far + this pass's counts
        std::vector<index_t> kept;       // scratch
        // Per group of samples (empty without groups): rows and norm sums from pass 1, moments and outliers from
        // pass 2, the group of each kept final row.
        std::vector<std::uint64_t> g_rows, g_outliers;
        std::vector<double> g_norm_sum;
        std::vector<moments<Acc>> gm;
        std::vector<std::uint32_t> final_group;

        void resize_groups(int groups, bool with_moments) {
            const auto n = static_cast<std::size_t>(groups);
            g_rows.resize(n, 0);
            g_outliers.resize(n, 0);
            g_norm_sum.resize(n, 0.0);
            if (!with_moments) {
                gm.clear();
            } else if (gm.size() != n) {
                gm.assign(n, moments<Acc>(m.dim()));
                for (auto& g : gm) g.set_scale(m.scale());
            }
        }

        [[nodiscard]] bool median_pending() const { return need_median && !selector.done(); }
        // Pass 1 counts the first digit whenever the plan needs a median; later passes only while it is pending.
        [[nodiscard]] bool selector_in_pass(const outlier_plan& plan, int passes_done) const {
            return passes_done == 0 ? plan.needs_median() : median_pending();
        }
    };

    void end_norms_pass() {
        for (side* s : {&vis_, &txt_}) {
            const auto n = static_cast<index_t>(s->norms.size());
            detail::require_rows(n, 2, s->ctx, "rows given");
            s->rows = n;
            s->rule = outlier_rule::fit(s->norms);
            if (plan_.flags) {
                for (double v : s->norms) s->outliers += s->rule.is_outlier(v) ? 1 : 0;
            }
            if (plan_.needs_median()) {
                s->selector.end_pass();
                median_bytes_ += s->selector.memory_bytes();
                s->need_median = plan_.replaces && s->outliers > 0 && !s->selector.done();
            }
            const index_t final_rows = plan_.final_rows(n, s->outliers);
            detail::require_rows(final_rows, 2, s->ctx, "rows remain after dropping outliers");
            s->small = final_rows < dim_;
            // Scale before narrowing (moments::set_scale): fp32 holds rows near 1e30 and denormals.
            s->m.set_scale(moments<Acc>::scale_for(n > 0 ? *std::max_element(s->norms.begin(), s->norms.end()) : 0.0));
            if (groups_ > 0) s->resize_groups(groups_, true);  // with the scale just set
        }
        alpha_ = text_centric_scale(txt_.norms);
        for (side* s : {&vis_, &txt_}) std::vector<double>().swap(s->norms);  // not needed any more
    }

    template <element T>
    void add_moments(side& s, const row_view<T>& rows, const row_context& c) {
        s.kept.clear();
        if (plan_.flags) {
            // The 3σ decision per row, from the global rule (the norm as pass 1 computed it).
            const std::vector<double> norms = row_norms(rows, c);
            for (index_t i = 0; i < rows.rows; ++i) {
                if (!s.rule.is_outlier(norms[static_cast<std::size_t>(i)])) s.kept.push_back(i);
            }
        }
        const bool all = !plan_.flags || static_cast<index_t>(s.kept.size()) == rows.rows;
        moments<Acc>& into = groups_ > 0 ? s.gm[static_cast<std::size_t>(group_)] : s.m;
        if (all) {
            into.add(rows);
        } else {
            into.add(rows, s.kept);
            if (groups_ > 0) {
                s.g_outliers[static_cast<std::size_t>(group_)] += static_cast<std::uint64_t>(
                    rows.rows - static_cast<index_t>(s.kept.size()));
            }
        }
        if (s.small) {
            const auto keep = [&](index_t i) {
                for (index_t j = 0; j < dim_; ++j) s.final_rows.push_back(to_acc<double>(rows.row(i)[j]));
                if (groups_ > 0) s.final_group.push_back(static_cast<std::uint32_t>(group_));
            };
            if (all) {
                for (index_t i = 0; i < rows.rows; ++i) keep(i);
            } else {
                for (index_t i : s.kept) keep(i);
            }
        }
    }

    // The full pass-2 moments of a grouped state: its groups' merged in order.
    void end_grouped_moments(side& s) {
        std::uint64_t outliers = 0;
        for (std::size_t g = 0; g < s.gm.size(); ++g) {
            s.m.merge(s.gm[g]);
            outliers += s.g_outliers[g];
        }
        if (plan_.flags && outliers != static_cast<std::uint64_t>(s.outliers)) {
            throw argument_error(std::string(s.ctx.modality) + " rows: the groups flagged " + std::to_string(outliers) +
                                     " outliers on pass 2, pass 1 " + std::to_string(s.outliers),
                                 s.ctx.where());
        }
    }

    void check_groups(const side& s, const std::string& w) const {
        const auto n = static_cast<std::size_t>(groups_);
        if (s.g_rows.size() != n || s.g_outliers.size() != n || s.g_norm_sum.size() != n ||
            s.gm.size() != (groups_ > 0 && passes_ >= 1 ? n : 0)) {
            throw argument_error(w + ": the per-group statistics do not match the group count");
        }
        if (groups_ == 0) {
            if (!s.final_group.empty()) throw argument_error(w + ": final-row groups without groups");
            return;
        }
        std::uint64_t rows = 0, outliers = 0;
        for (std::size_t g = 0; g < n; ++g) {
            rows += s.g_rows[g];
            outliers += s.g_outliers[g];
            if (!(s.g_norm_sum[g] >= 0.0) || !std::isfinite(s.g_norm_sum[g]))
                throw argument_error(w + ": a group's norm sum is not finite");
        }
        if (s.final_group.size() * static_cast<std::size_t>(dim_) != s.final_rows.size())
            throw argument_error(w + ": final-row groups do not match the final rows");
        for (std::uint32_t g : s.final_group) {
            if (g >= n) throw argument_error(w + ": a final row's group is out of range");
        }
        if (passes_ >= 1 && (rows != static_cast<std::uint64_t>(s.rows) || outliers > rows))
            throw argument_error(w + ": the groups' row counts do not add up to the rows");
        for (const auto& g : s.gm) {
            g.check_state(w + ", a group");
            if (g.scale() != s.m.scale()) throw argument_error(w + ": a group's moments have another scale");
        }
    }

    modality_stats leave_out_side(const side& s, std::size_t g) const {
        moments<Acc> m(dim_);
        m.set_scale(s.m.scale());
        for (std::size_t h = 0; h < s.gm.size(); ++h) {
            if (h != g) m.merge(s.gm[h]);
        }
        return statistics_of(s, m, s.rows - static_cast<index_t>(s.g_rows[g]),
                             s.outliers - static_cast<index_t>(s.g_outliers[g]), g);
    }

    modality_stats finish_side(side& s) { return statistics_of(s, s.m, s.rows, s.outliers, std::nullopt); }

    // A modality's statistics from `m`, the moments of its rows that enter as
    // they are: the stand-ins of its `outliers` flagged rows joined, and the
    // final rows (every one, or all but group `skip`'s) gathered when the
    // small-side square root needs them.
    modality_stats statistics_of(const side& s, moments<Acc>& m, index_t input_rows, index_t outliers,
                                 std::optional<std::size_t> skip) const {
        modality_stats out;
        out.input_rows = input_rows;
        out.rule = s.rule;
        out.outliers = outliers;
        const std::optional<Eigen::VectorXd> stand_in = detail::add_stand_ins(
            plan_, m, outliers, [&] { return s.selector.median(); }, s.ctx);
        out.gaussian = detail::finish_gaussian(
            m,
            [&] {
                Eigen::MatrixXd f(m.count(), dim_);
                const std::size_t kept = s.final_rows.size() / static_cast<std::size_t>(dim_);
                index_t r = 0;
                for (std::size_t i = 0; i < kept; ++i) {
                    if (skip && s.final_group[i] == *skip) continue;
                    f.row(r++) = Eigen::Map<const Eigen::RowVectorXd>(s.final_rows.data() +
                                                                          i * static_cast<std::size_t>(dim_),
                                                                      dim_);
                }
                for (; r < f.rows(); ++r) f.row(r) = stand_in->transpose();
                return f;
            },
            s.ctx);
        return out;
    }

    index_t dim_;
    outlier_policy policy_;
    outlier_plan plan_;
    int layer_;
    int groups_ = 0;
    int group_ = 0;  // of the rows being added
    int passes_ = 0;
    bool finished_ = false;
    double alpha_ = 0.0;
    std::size_t median_bytes_ = 0;
    side vis_, txt_;
};

/// Runs the pass in progress of `p` over the rows `replay(sink)` presents
/// (`sink(is_vision, rows)`, as below): one participant's share of that
/// pass. Does not end the pass. `progress`, when set, is called after every
/// chunk (its rows count this participant's rows of the pass).
template <accumulator_type Acc, class Replay>
void run_pass(layer_passes<Acc>& p, Replay&& replay, const progress_callback& progress = {}) {
    progress_event event;
    event.layer = p.layer();
    event.stage = p.stage();
    event.pass = p.pass();
    event.passes = p.passes_expected();
    event.rows_per_pass = p.rows_per_pass();
    replay([&](bool is_vision, const auto& rows) {
        p.add(is_vision, rows);
        event.rows += rows.rows;
        if (progress) progress(event);
    });
}

/// From a replayable source, exact. `replay(sink)` must call
/// `sink(is_vision, rows)` (rows: any row_view<T>) for every row of the
/// layer, presenting the same rows in the same order on every call.
/// `progress`, when set, is called after every chunk of rows of every pass.
template <accumulator_type Acc = double, class Replay>
[[nodiscard]] layer_statistics compute_layer_statistics_multipass(
    Replay&& replay, index_t dim, outlier_policy policy = outlier_policy::replace_median, int layer = -1,
    multipass_info* info = nullptr, const progress_callback& progress = {}) {
    layer_passes<Acc> p(dim, policy, layer);
    while (!p.done()) {
        run_pass(p, replay, progress);
        p.end_pass();
    }
    if (info) {
        info->passes = p.passes_done();
        info->median_bytes = p.median_bytes();
    }
    return p.finish();
}

}  // namespace mir

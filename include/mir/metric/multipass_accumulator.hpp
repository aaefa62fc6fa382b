// mir/metric/multipass_accumulator.hpp — MIR fed the way a model runs
// (sample by sample, every layer of a sample at a time), exact, in memory
// independent of the number of samples: the evaluation set is replayed.
//
// mir_accumulator (accumulator.hpp) sees the data once, so under the exact
// replace-median rule it keeps every row (memory grows with the samples) or
// estimates the median from a reservoir. This one keeps per chosen layer a
// mir::layer_passes state (mir/stats/layer_passes.hpp) and asks for the data
// again instead: pass 1 gathers the norms (3σ rules, α) and the median's
// digits, pass 2 the moments (a third or fourth pass only while a median
// digit is still undecided). Memory per layer: O(d²) plus one norm per row
// in pass 1, at any number of samples.
//
//     mir::multipass_accumulator acc(K + 1, d);
//     while (!acc.done()) {
//         for (sample : data) for (k : layers) acc.add(k, hidden[k], vision_mask);
//         acc.end_pass();
//     }
//     mir::mir_result r = acc.result();
//
// Every pass must replay the same rows in the same order (a layer's pass 2
// checks its row counts against pass 1). Layers whose passes are over skip
// what they are given. Participants (shards, ranks) each add their own
// samples to a fork() and are merged back pass by pass (merge()).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mir/adapters/adapter.hpp"
#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/mask.hpp"
#include "mir/metric/layer.hpp"
#include "mir/metric/mir.hpp"
#include "mir/precision.hpp"
#include "mir/stats/layer_passes.hpp"

namespace mir {

/// Options of the replayed multi-layer accumulator.
struct multipass_options {
    outlier_policy policy = outlier_policy::replace_median;
    mir::precision precision = mir::precision::fp64;
    sqrt_options sqrt = sqrt_method::exact;
    /// Hidden-state indices entering MIR; empty = 1..K (index 0, the embeddings, excluded).
    std::vector<int> layers;
};

/// The replayed accumulator in a fixed accumulation type; see multipass_accumulator.
template <accumulator_type Acc>
class basic_multipass_accumulator {
public:
    basic_multipass_accumulator(int num_indices, index_t hidden_size, const multipass_options& opt = {})
        : num_indices_(num_indices), opt_(opt) {
        if (num_indices < 1) {
            throw argument_error("multipass_accumulator: the number of hidden-state indices must be >= 1, got " +
                                 std::to_string(num_indices));
        }
        if (hidden_size <= 0) {
            throw argument_error("multipass_accumulator: the hidden size must be positive, got " +
                                 std::to_string(hidden_size));
        }
        if (opt_.layers.empty()) {
            for (int k = 1; k < num_indices; ++k) opt_.layers.push_back(k);
            if (opt_.layers.empty()) {
                throw argument_error("multipass_accumulator: with a single hidden-state index (embeddings only) "
                                     "the default layers 1..K are empty; choose layers explicitly");
            }
        }
        std::sort(opt_.layers.begin(), opt_.layers.end());
        opt_.layers.erase(std::unique(opt_.layers.begin(), opt_.layers.end()), opt_.layers.end());
        slot_of_.assign(static_cast<std::size_t>(num_indices), -1);
        for (int k : opt_.layers) {
            if (k < 0 || k >= num_indices) {
                throw argument_error("multipass_accumulator: layer " + std::to_string(k) + " is outside 0.." +
                                     std::to_string(num_indices - 1));
            }
            slot_of_[static_cast<std::size_t>(k)] = static_cast<int>(states_.size());
            states_.emplace_back(hidden_size, opt_.policy, k);
        }
    }

    [[nodiscard]] int num_indices() const noexcept { return num_indices_; }
    [[nodiscard]] index_t hidden_size() const noexcept { return states_.front().dim(); }
    [[nodiscard]] const std::vector<int>& layers() const noexcept { return opt_.layers; }
    [[nodiscard]] const multipass_options& options() const noexcept { return opt_; }

    /// The pass in progress (1-based); after the last, the number of passes run + 1.
    [[nodiscard]] int pass() const noexcept { return pass_; }
    /// Every chosen layer's passes are over: result() may be called.
    [[nodiscard]] bool done() const noexcept {
        return std::all_of(states_.begin(), states_.end(), [](const auto& s) { return s.done(); });
    }
    /// Passes in all, as far as known now (the most over the layers; grows
    /// while a median digit stays undecided).
    [[nodiscard]] int passes_expected() const noexcept {
        int n = 0;
        for (const auto& s : states_) n = std::max(n, s.passes_expected());
        return n;
    }
    /// Whether index `layer` takes rows in this pass (chosen, its passes not over).
    [[nodiscard]] bool wants(int layer) const noexcept {
        return layer >= 0 && layer < num_indices_ && slot_of_[static_cast<std::size_t>(layer)] >= 0 &&
               !states_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])].done();
    }

    /// One layer of one sample: T token rows (any tensor_like, [T, d]) and a
    /// length-T vision mask; every other row is text.
    template <tensor_like X, mask_element M>
    void add(int layer, const X& rows, std::span<const M> vision_mask) {
        add_roles(layer, rows, vision_mask.size(), [&] { return token_roles(vision_mask); });
    }

    /// The same with a text mask: rows in neither are ignored (SPEC §6), a
    /// row in both is an argument_error naming its position.
    template <tensor_like X, mask_element MV, mask_element MT>
    void add(int layer, const X& rows, std::span<const MV> vision_mask, std::span<const MT> text_mask) {
        if (text_mask.size() != vision_mask.size()) {
            throw shape_error("the vision and text masks have " + std::to_string(vision_mask.size()) + " and " +
                                  std::to_string(text_mask.size()) + " entries",
                              error_context{"", "", -1, layer});
        }
        add_roles(layer, rows, vision_mask.size(), [&] { return token_roles(vision_mask, text_mask); });
    }

    /// Rows of one modality of one layer (a run of a sample, in any pieces).
    template <element T>
    void add_rows(int layer, bool is_vision, const row_view<T>& rows) {
        check_layer(layer);
        if (!wants(layer)) return;
        state(layer).add(is_vision, rows);
    }

    /// Ends the pass for every layer still in progress; the data is then
    /// replayed for the next (unless done()).
    void end_pass() {
        if (done()) throw argument_error("multipass_accumulator: end_pass() after the last pass");
        for (auto& s : states_) {
            if (!s.done()) s.end_pass();
        }
        ++pass_;
    }

    /// A participant's starting point for the pass in progress (what the
    /// passes before decided, none of this pass's rows): each participant
    /// adds its own samples to a fork, and the forks are merged back into
    /// this state in participant order before end_pass().
    [[nodiscard]] basic_multipass_accumulator fork() const {
        basic_multipass_accumulator f(*this, forked{});
        return f;
    }

    /// Another participant's contributions to the same pass (its own
    /// samples, added to a fork() of this state), merged in the order calls
    /// are made.
    void merge(const basic_multipass_accumulator& other) {
        if (other.opt_.layers != opt_.layers || other.num_indices_ != num_indices_ || other.pass_ != pass_) {
            throw argument_error("multipass_accumulator: merging a state of other layers or another pass (pass " +
                                 std::to_string(other.pass_) + " into pass " + std::to_string(pass_) + ")");
        }
        for (std::size_t i = 0; i < states_.size(); ++i) {
            if (!states_[i].done()) states_[i].merge(other.states_[i]);
        }
    }

    /// The result (once done()); computed on the first call and kept.
    [[nodiscard]] const mir_result& result() {
        if (!result_) {
            if (!done()) {
                throw argument_error("multipass_accumulator: pass " + std::to_string(pass_) + " of " +
                                     std::to_string(std::max(pass_, passes_expected())) +
                                     " is in progress; replay the data until done() (end_pass() after each pass)");
            }
            std::vector<layer_result> out;
            out.reserve(states_.size());
            seconds_.clear();
            for (auto& s : states_) {
                const auto t0 = std::chrono::steady_clock::now();
                out.push_back(compute_layer(s.finish(), opt_.sqrt));
                seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            result_ = aggregate(std::move(out));
        }
        return *result_;
    }

    /// Wall seconds result() took for each layer (statistics and square root), in layers() order.
    [[nodiscard]] const std::vector<double>& layer_seconds() const noexcept { return seconds_; }

    /// Continues from saved or received states (one per layer, in layers()
    /// order, of this hidden size and policy) at pass `pass`: what
    /// states() gave, written out and read back (mir/stats/state_bytes.hpp,
    /// mir/source/saved_state.hpp). Every layer whose passes are not over
    /// must be at `pass`.
    void restore(int pass, std::vector<layer_passes<Acc>> states) {
        if (states.size() != states_.size()) {
            throw argument_error("multipass_accumulator: restoring " + std::to_string(states.size()) +
                                 " layer states into an accumulator of " + std::to_string(states_.size()) + " layers");
        }
        if (pass < 1) throw argument_error("multipass_accumulator: restoring pass " + std::to_string(pass));
        for (std::size_t i = 0; i < states.size(); ++i) {
            const layer_passes<Acc>& s = states[i];
            const int layer = opt_.layers[i];
            if (s.layer() != layer || s.dim() != hidden_size() || s.policy() != opt_.policy) {
                throw argument_error("multipass_accumulator: the state restored for layer " + std::to_string(layer) +
                                     " is of layer " + std::to_string(s.layer()) + ", hidden size " +
                                     std::to_string(s.dim()) + ", policy " + std::string(to_string(s.policy())) +
                                     "; this accumulator's is " + std::to_string(hidden_size()) + ", " +
                                     std::string(to_string(opt_.policy)));
            }
            if (!s.done() && s.pass() != pass) {
                throw argument_error("multipass_accumulator: layer " + std::to_string(layer) + " is at pass " +
                                     std::to_string(s.pass()) + ", the accumulator restored at pass " +
                                     std::to_string(pass));
            }
        }
        states_ = std::move(states);
        pass_ = pass;
        result_.reset();
    }

    /// The chosen layers' states, in layers() order (to save or send them:
    /// mir/source/saved_state.hpp, mir/mpi.hpp).
    [[nodiscard]] std::vector<layer_passes<Acc>>& states() noexcept { return states_; }
    [[nodiscard]] const std::vector<layer_passes<Acc>>& states() const noexcept { return states_; }

private:
    struct forked {};
    basic_multipass_accumulator(const basic_multipass_accumulator& from, forked)
        : num_indices_(from.num_indices_), opt_(from.opt_), slot_of_(from.slot_of_), pass_(from.pass_) {
        states_.reserve(from.states_.size());
        for (const auto& st : from.states_) states_.push_back(st.done() ? st : st.fork());
    }

    layer_passes<Acc>& state(int layer) {
        return states_[static_cast<std::size_t>(slot_of_[static_cast<std::size_t>(layer)])];
    }

    void check_layer(int layer) const {
        if (layer < 0 || layer >= num_indices_) {
            throw argument_error("multipass_accumulator: hidden-state index " + std::to_string(layer) +
                                 " is outside 0.." + std::to_string(num_indices_ - 1));
        }
    }

    template <tensor_like X, class Roles>
    void add_roles(int layer, const X& tensor, std::size_t mask_size, Roles&& make_roles) {
        check_layer(layer);
        visit_rows(tensor, [&](const auto& rows) {
            const error_context at{"", "", -1, layer};
            if (static_cast<index_t>(mask_size) != rows.rows) {
                throw shape_error("the mask has " + std::to_string(mask_size) + " entries for " +
                                      std::to_string(rows.rows) + " tokens",
                                  at);
            }
            if (rows.cols != hidden_size()) {
                throw shape_error("rows of hidden size " + std::to_string(rows.cols) + ", expected " +
                                      std::to_string(hidden_size()),
                                  at);
            }
            std::vector<token_role> roles;
            try {
                roles = make_roles();
            } catch (error& e) {
                e.in_layer(layer);
                throw;
            }
            if (!wants(layer)) return;
            layer_passes<Acc>& s = state(layer);
            for_each_row_block(rows, [&](const auto& block, index_t b0) {
                const std::span<const token_role> part(roles.data() + b0, static_cast<std::size_t>(block.rows));
                for_each_role_run(part, [&](index_t b, index_t e, token_role r) {
                    if (r != token_role::ignored) s.add(r == token_role::vision, block.middle_rows(b, e - b));
                });
            });
        });
    }

    int num_indices_;
    multipass_options opt_;
    std::vector<int> slot_of_;
    std::vector<layer_passes<Acc>> states_;
    int pass_ = 1;
    std::optional<mir_result> result_;
    std::vector<double> seconds_;
};

/// The replayed accumulator, accumulation type chosen at run time
/// (multipass_options::precision).
class multipass_accumulator {
public:
    multipass_accumulator(int num_indices, index_t hidden_size, const multipass_options& opt = {})
        : impl_(make(num_indices, hidden_size, opt)) {}

    template <tensor_like X, mask_element M>
    void add(int layer, const X& rows, std::span<const M> vision_mask) {
        std::visit([&](auto& a) { a.add(layer, rows, vision_mask); }, impl_);
    }
    template <tensor_like X, mask_element MV, mask_element MT>
    void add(int layer, const X& rows, std::span<const MV> vision_mask, std::span<const MT> text_mask) {
        std::visit([&](auto& a) { a.add(layer, rows, vision_mask, text_mask); }, impl_);
    }
    template <element T>
    void add_rows(int layer, bool is_vision, const row_view<T>& rows) {
        std::visit([&](auto& a) { a.add_rows(layer, is_vision, rows); }, impl_);
    }
    void end_pass() {
        std::visit([](auto& a) { a.end_pass(); }, impl_);
    }
    void merge(const multipass_accumulator& other) {
        if (impl_.index() != other.impl_.index()) {
            throw argument_error("multipass_accumulator: merging states of different precisions");
        }
        std::visit([&](auto& a) { a.merge(std::get<std::remove_cvref_t<decltype(a)>>(other.impl_)); }, impl_);
    }
    [[nodiscard]] multipass_accumulator fork() const {
        return std::visit([](const auto& a) { return multipass_accumulator(variant(a.fork())); }, impl_);
    }
    [[nodiscard]] const mir_result& result() {
        return std::visit([](auto& a) -> const mir_result& { return a.result(); }, impl_);
    }
    [[nodiscard]] const std::vector<double>& layer_seconds() const {
        return std::visit([](const auto& a) -> const std::vector<double>& { return a.layer_seconds(); }, impl_);
    }
    [[nodiscard]] bool done() const {
        return std::visit([](const auto& a) { return a.done(); }, impl_);
    }
    [[nodiscard]] int pass() const {
        return std::visit([](const auto& a) { return a.pass(); }, impl_);
    }
    [[nodiscard]] int passes_expected() const {
        return std::visit([](const auto& a) { return a.passes_expected(); }, impl_);
    }
    [[nodiscard]] bool wants(int layer) const {
        return std::visit([&](const auto& a) { return a.wants(layer); }, impl_);
    }
    [[nodiscard]] const std::vector<int>& layers() const {
        return std::visit([](const auto& a) -> const std::vector<int>& { return a.layers(); }, impl_);
    }
    [[nodiscard]] int num_indices() const {
        return std::visit([](const auto& a) { return a.num_indices(); }, impl_);
    }
    [[nodiscard]] index_t hidden_size() const {
        return std::visit([](const auto& a) { return a.hidden_size(); }, impl_);
    }
    /// The typed accumulator (std::get<basic_multipass_accumulator<double>>), for its states and restore().
    [[nodiscard]] auto& typed() noexcept { return impl_; }

private:
    using variant = std::variant<basic_multipass_accumulator<double>, basic_multipass_accumulator<float>>;
    explicit multipass_accumulator(variant v) : impl_(std::move(v)) {}
    static variant make(int k, index_t d, const multipass_options& opt) {
        return with_precision(opt.precision,
                              [&]<class Acc>() { return variant(basic_multipass_accumulator<Acc>(k, d, opt)); });
    }
    variant impl_;
};

}  // namespace mir

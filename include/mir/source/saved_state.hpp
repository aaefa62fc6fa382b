// mir/source/saved_state.hpp — the passes of a computation (one
// layer_passes per hidden-state index) saved to a file and loaded again,
// so that shards computed on other machines, at other times, merge exactly
// (`mir compute --save-state`, `mir merge`; the protocol: docs/merging.md).
//
// The file is a safetensors file (the format mir already reads and
// validates): each array of each layer's state is a tensor named
// "L<index>.<field>" (F64 or F32 for values in the accumulation type, U32 and
// U64 for the median's counters and digits; a scatter matrix as its packed
// lower triangle, column by column, or empty while its count is 0), and
// "__metadata__" holds "mir_state",
// a JSON object: format "mir-layer-passes", version 2, precision, outlier
// policy, hidden size, the layers, the pass, every scalar field, and an
// "info" object the writer chooses (the program puts its provenance there).
// Loading checks every field against the state's invariants before anything
// uses it: a damaged or hand-made file is an error naming the file, the
// layer and the field, never a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "mir/error.hpp"
#include "mir/io/safetensors.hpp"
#include "mir/precision.hpp"
#include "mir/stats/layer_passes.hpp"
#include "mir/stats/moments.hpp"
#include "mir/stats/outliers.hpp"

namespace mir {

/// What a state file holds besides the states themselves.
struct saved_state_info {
    mir::precision precision = mir::precision::fp64;
    outlier_policy policy = outlier_policy::replace_median;
    index_t hidden_size = 0;
    std::vector<int> layers;  ///< hidden-state indices, one state each, in file order
    int pass = 1;             ///< the pass in progress (1-based) of every layer; 0 when all are done
    bool done = false;        ///< every layer's passes are over (finish() may be called)
    int passes_expected = 0;  ///< passes in all as far as known when written (the most over the layers)
    int groups = 0;           ///< jackknife groups of every layer's state (0: none; mir/metric/uncertainty.hpp)
    nlohmann::json info = nlohmann::json::object();  ///< the writer's own record (provenance)
};

inline constexpr int saved_state_version = 2;  // 2: per-group statistics (the jackknife)

namespace detail {

inline std::string state_field(int layer, std::string_view name) {
    return "L" + std::to_string(layer) + "." + std::string(name);
}

template <class T>
inline constexpr bool is_state_scalar = std::is_arithmetic_v<std::remove_cvref_t<T>>;

// Writes every field of a state: scalars into a JSON object, arrays as tensors.
template <accumulator_type Acc>
struct state_writer {
    int layer;
    nlohmann::json& scalars;
    std::deque<std::vector<std::byte>>& buffers;
    std::vector<io::tensor_to_write>& tensors;

    template <class T>
    void put(std::string_view name, io::file_dtype dt, const T* data, std::size_t n) {
        std::vector<std::byte>& b = buffers.emplace_back(n * sizeof(T));
        if (n > 0) std::memcpy(b.data(), data, n * sizeof(T));
        tensors.push_back({state_field(layer, name), dt, {static_cast<std::int64_t>(n)}, b});
    }

    template <class T>
    void operator()(std::string_view name, T&& field) {
        using U = std::remove_cvref_t<T>;
        if constexpr (is_state_scalar<U>) {
            scalars[state_field(layer, name)] = field;
        } else if constexpr (std::is_same_v<U, std::vector<double>>) {
            put(name, io::file_dtype::f64, field.data(), field.size());
        } else if constexpr (std::is_same_v<U, std::vector<std::uint64_t>>) {
            put(name, io::file_dtype::u64, field.data(), field.size());
        } else if constexpr (std::is_same_v<U, std::vector<std::uint32_t>>) {
            put(name, io::file_dtype::u32, field.data(), field.size());
        } else if constexpr (std::is_same_v<U, Eigen::Matrix<Acc, Eigen::Dynamic, 1>>) {
            put(name, io::file_dtype_of<Acc>, field.data(), static_cast<std::size_t>(field.size()));
        } else if constexpr (std::is_same_v<U, lower_triangle<Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>>>) {
            const auto& m = field.matrix;
            if (field.zero) {  // nothing accumulated yet (pass 1): an empty array, not d² zeros
                put(name, io::file_dtype_of<Acc>, static_cast<const Acc*>(nullptr), 0);
                return;
            }
            std::vector<Acc> packed;
            packed.reserve(static_cast<std::size_t>(m.rows() * (m.rows() + 1) / 2));
            for (Eigen::Index j = 0; j < m.cols(); ++j) {
                for (Eigen::Index i = j; i < m.rows(); ++i) packed.push_back(m(i, j));
            }
            put(name, io::file_dtype_of<Acc>, packed.data(), packed.size());
        } else {
            static_assert(sizeof(U) == 0, "state_writer: a field type it does not know");
        }
    }
};

// Reads every field of a state back, checking types and sizes.
template <accumulator_type Acc>
struct state_reader {
    int layer;
    const nlohmann::json& scalars;
    const io::safetensors_file& file;

    [[noreturn]] void fail(std::string_view name, const std::string& what) const {
        throw file_error(file.path().string() + ": layer " + std::to_string(layer) + ", field '" + std::string(name) +
                         "': " + what);
    }

    template <class T>
    std::vector<T> get(std::string_view name, io::file_dtype dt) const {
        const io::tensor_view* t = file.find(state_field(layer, name));
        if (t == nullptr) fail(name, "missing (tensor " + state_field(layer, name) + ")");
        if (t->dtype != dt || t->shape.size() != 1) {
            fail(name, "is " + std::string(io::to_string(t->dtype)) + " of rank " + std::to_string(t->shape.size()) +
                           ", expected a vector of " + std::string(io::to_string(dt)));
        }
        std::vector<T> v(static_cast<std::size_t>(t->shape[0]));
        if (t->nbytes != v.size() * sizeof(T)) fail(name, "has a byte count that does not match its shape");
        if (!v.empty()) std::memcpy(v.data(), t->data, t->nbytes);
        return v;
    }

    template <class T>
    void operator()(std::string_view name, T&& field) {
        using U = std::remove_cvref_t<T>;
        if constexpr (is_state_scalar<U>) {
            const auto it = scalars.find(state_field(layer, name));
            if (it == scalars.end()) fail(name, "missing");
            const bool ok = std::is_same_v<U, bool>       ? it->is_boolean()
                            : std::is_floating_point_v<U> ? it->is_number()
                            : std::is_unsigned_v<U>       ? it->is_number_unsigned()
                                                          : it->is_number_integer();
            if (!ok) fail(name, "is " + std::string(it->type_name()) + ", of the wrong type");
            field = it->template get<U>();
        } else if constexpr (std::is_same_v<U, std::vector<double>>) {
            field = get<double>(name, io::file_dtype::f64);
        } else if constexpr (std::is_same_v<U, std::vector<std::uint64_t>>) {
            field = get<std::uint64_t>(name, io::file_dtype::u64);
        } else if constexpr (std::is_same_v<U, std::vector<std::uint32_t>>) {
            field = get<std::uint32_t>(name, io::file_dtype::u32);
        } else if constexpr (std::is_same_v<U, Eigen::Matrix<Acc, Eigen::Dynamic, 1>>) {
            const std::vector<Acc> v = get<Acc>(name, io::file_dtype_of<Acc>);
            if (static_cast<Eigen::Index>(v.size()) != field.size()) {
                fail(name, std::to_string(v.size()) + " values, expected " + std::to_string(field.size()));
            }
            field = Eigen::Map<const U>(v.data(), field.size());
        } else if constexpr (std::is_same_v<U, lower_triangle<Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>>>) {
            auto& m = field.matrix;
            const std::vector<Acc> v = get<Acc>(name, io::file_dtype_of<Acc>);
            if (v.empty() && field.zero) {
                m.setZero();
                return;
            }
            const auto want = static_cast<std::size_t>(m.rows() * (m.rows() + 1) / 2);
            if (v.size() != want || m.rows() != m.cols()) {
                fail(name, std::to_string(v.size()) + " values, expected the " + std::to_string(want) +
                               " of a packed lower triangle of " + std::to_string(m.rows()) + " x " +
                               std::to_string(m.rows()));
            }
            std::size_t k = 0;
            for (Eigen::Index j = 0; j < m.cols(); ++j) {
                for (Eigen::Index i = j; i < m.rows(); ++i) m(i, j) = v[k++];
            }
        } else {
            static_assert(sizeof(U) == 0, "state_reader: a field type it does not know");
        }
    }
};

inline saved_state_info parse_state_info(const io::safetensors_file& f, nlohmann::json* scalars_out) {
    const std::string where = f.path().string();
    const auto it = f.metadata().find("mir_state");
    if (it == f.metadata().end()) {
        throw file_error(where +
                         ": not a mir state file (no \"mir_state\" in its metadata; `mir compute "
                         "--save-state` writes them)");
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
        throw file_error(where + ": the \"mir_state\" metadata is not JSON: " + e.what());
    }
    const auto need = [&](const char* key) -> const nlohmann::json& {
        if (!j.is_object() || !j.contains(key))
            throw file_error(where + ": \"mir_state\" has no '" + std::string(key) + "'");
        return j[key];
    };
    try {
        if (need("format") != "mir-layer-passes")
            throw file_error(where + ": \"mir_state\" is not of format mir-layer-passes");
        if (need("version") != saved_state_version) {
            throw file_error(where + ": state version " + need("version").dump() + "; this mir reads version " +
                             std::to_string(saved_state_version));
        }
        saved_state_info s;
        const auto prec = parse_precision(need("precision").get<std::string>());
        s.precision = prec;
        s.policy = parse_outlier_policy(need("outliers").get<std::string>());
        s.hidden_size = need("hidden_size").get<index_t>();
        s.layers = need("layers").get<std::vector<int>>();
        s.pass = need("pass").get<int>();
        s.done = need("done").get<bool>();
        s.passes_expected = need("passes_expected").get<int>();
        s.groups = need("groups").get<int>();
        if (j.contains("info")) s.info = j["info"];
        if (s.hidden_size <= 0 || s.layers.empty())
            throw file_error(where + ": \"mir_state\" has no layers or no hidden size");
        if (scalars_out) *scalars_out = need("scalars");
        if (scalars_out && !scalars_out->is_object())
            throw file_error(where + ": \"mir_state\" scalars are not an object");
        return s;
    } catch (const nlohmann::json::exception& e) {
        throw file_error(where + ": \"mir_state\" is malformed: " + e.what());
    } catch (const argument_error& e) {
        throw file_error(where + ": \"mir_state\": " + e.message());
    }
}

}  // namespace detail

/// Collects the states of several layers, one at a time (each is copied
/// into the file's layout when added, packed: a caller may drop a state as
/// soon as it is added), and writes them as one state file.
template <accumulator_type Acc>
class pass_state_writer {
public:
    /// The state of hidden-state index `layer`; every state added must be at
    /// the same pass, of the same hidden size and policy.
    void add(int layer, layer_passes<Acc>& state) {
        if (!layers_.empty() && (state.pass() != pass_ || state.done() != done_ || state.dim() != dim_ ||
                                 state.policy() != policy_ || state.groups() != groups_)) {
            throw argument_error("pass_state_writer: the layers' states are at different passes or of different kinds");
        }
        if (std::find(layers_.begin(), layers_.end(), layer) != layers_.end()) {
            throw argument_error("pass_state_writer: layer " + std::to_string(layer) + " added twice");
        }
        pass_ = state.pass();
        done_ = state.done();
        dim_ = state.dim();
        policy_ = state.policy();
        groups_ = state.groups();
        passes_expected_ = std::max(passes_expected_, state.passes_expected());
        state.visit_state(detail::state_writer<Acc>{layer, scalars_, buffers_, tensors_});
        layers_.push_back(layer);
    }

    /// Writes the file atomically (mir::io::write_safetensors); `info` is
    /// stored as it is (the program's provenance).
    void write(const std::filesystem::path& path, const nlohmann::json& info = nlohmann::json::object()) const {
        if (layers_.empty()) throw argument_error("pass_state_writer: no layer to write");
        nlohmann::json j;
        j["format"] = "mir-layer-passes";
        j["version"] = saved_state_version;
        j["precision"] = std::string(
            to_string(std::is_same_v<Acc, float> ? mir::precision::fp32 : mir::precision::fp64));
        j["outliers"] = std::string(to_string(policy_));
        j["hidden_size"] = dim_;
        std::vector<int> sorted = layers_;  // added in any order (as layers finish); listed in index order
        std::sort(sorted.begin(), sorted.end());
        j["layers"] = sorted;
        j["pass"] = done_ ? 0 : pass_;
        j["done"] = done_;
        j["passes_expected"] = passes_expected_;
        j["groups"] = groups_;
        j["scalars"] = scalars_;
        j["info"] = info;
        io::write_safetensors(path, tensors_, {{"mir_state", j.dump()}});
    }

private:
    std::vector<int> layers_;
    int pass_ = 0, passes_expected_ = 0, groups_ = 0;
    bool done_ = false;
    index_t dim_ = 0;
    outlier_policy policy_ = outlier_policy::replace_median;
    nlohmann::json scalars_ = nlohmann::json::object();
    std::deque<std::vector<std::byte>> buffers_;
    std::vector<io::tensor_to_write> tensors_;
};

/// Saves the states of `layers` (hidden-state indices, one state each, all
/// at the same pass) to `path`, atomically.
template <accumulator_type Acc>
void save_pass_states(const std::filesystem::path& path, const std::vector<int>& layers,
                      std::vector<layer_passes<Acc>>& states, const nlohmann::json& info = nlohmann::json::object()) {
    if (layers.size() != states.size() || states.empty()) {
        throw argument_error("save_pass_states: " + std::to_string(layers.size()) + " layers for " +
                             std::to_string(states.size()) + " states");
    }
    pass_state_writer<Acc> w;
    for (std::size_t i = 0; i < states.size(); ++i) w.add(layers[i], states[i]);
    w.write(path, info);
}

/// Whether the safetensors file at `path` is a state file (it carries the
/// "mir_state" metadata) rather than, say, a dump; a file that is not
/// safetensors at all is an error as in io::safetensors_file::open.
[[nodiscard]] inline bool is_state_file(const std::filesystem::path& path) {
    const io::safetensors_file f = io::safetensors_file::open(path);
    return f.metadata().find("mir_state") != f.metadata().end();
}

/// What the state file at `path` holds, without its arrays' contents.
[[nodiscard]] inline saved_state_info read_state_info(const std::filesystem::path& path) {
    return detail::parse_state_info(io::safetensors_file::open(path), nullptr);
}

/// The states of a file written by save_pass_states<Acc> (its precision
/// must be Acc's), checked; `info_out` receives the rest of what it holds.
/// With `only_layer` >= 0, the state of that hidden-state index alone (a
/// file error if the file has none): merging layer by layer holds one
/// layer's states at a time.
template <accumulator_type Acc>
[[nodiscard]] std::vector<layer_passes<Acc>> load_pass_states(const std::filesystem::path& path,
                                                              saved_state_info* info_out = nullptr,
                                                              int only_layer = -1) {
    const io::safetensors_file f = io::safetensors_file::open(path);
    nlohmann::json scalars;
    saved_state_info s = detail::parse_state_info(f, &scalars);
    const mir::precision want = std::is_same_v<Acc, float> ? mir::precision::fp32 : mir::precision::fp64;
    if (s.precision != want) {
        throw file_error(path.string() + ": a state in " + std::string(to_string(s.precision)) + ", read as " +
                         std::string(to_string(want)));
    }
    if (only_layer >= 0 && std::find(s.layers.begin(), s.layers.end(), only_layer) == s.layers.end()) {
        throw file_error(path.string() + ": holds no state of layer " + std::to_string(only_layer));
    }
    std::vector<layer_passes<Acc>> out;
    out.reserve(only_layer >= 0 ? 1 : s.layers.size());
    for (int layer : s.layers) {
        if (only_layer >= 0 && layer != only_layer) continue;
        layer_passes<Acc> p(s.hidden_size, s.policy, layer);
        try {
            p.visit_state(detail::state_reader<Acc>{layer, scalars, f});
            p.check_state(path.string() + ": layer " + std::to_string(layer));
        } catch (const nlohmann::json::exception& e) {
            throw file_error(path.string() + ": layer " + std::to_string(layer) + ": " + e.what());
        } catch (const argument_error& e) {
            throw file_error(e.message());
        }
        if (p.groups() != s.groups) {
            throw file_error(path.string() + ": layer " + std::to_string(layer) + " has " + std::to_string(p.groups()) +
                             " jackknife groups but the file says " + std::to_string(s.groups));
        }
        if (p.done() != s.done || (!s.done && p.pass() != s.pass)) {
            throw file_error(path.string() + ": layer " + std::to_string(layer) + " is at pass " +
                             std::to_string(p.pass()) + " but the file says " + std::to_string(s.pass));
        }
        out.push_back(std::move(p));
    }
    if (info_out) *info_out = std::move(s);
    return out;
}

}  // namespace mir

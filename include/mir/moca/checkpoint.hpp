// mir/moca/checkpoint.hpp — MoCa parameters in safetensors files under the
// official names (SPEC §5):
//     model.layers.{i}.modality_layernorm.scale   u of decoder layer i, shape [d]
//     model.layers.{i}.modality_layernorm.shift   v of decoder layer i, shape [d]
// i is the 0-based decoder-layer index; its output is hidden-states index
// i + 1. Reads F32, BF16, F16 (and F64); other tensors in the file (a full
// model checkpoint, optimiser state) are ignored. Writes F32 (default),
// BF16 or F16, rounding to nearest even — what torch's .to(dtype) does — so
// the official PyTorch code loads the file with load_state_dict(strict=False)
// or safetensors.torch.load_file.
//
// Needs mir::io (nlohmann_json): an opt-in header like mir/io/*.hpp, not
// included by mir/mir.hpp.
#pragma once

#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/io/safetensors.hpp"
#include "mir/io/tensor.hpp"
#include "mir/moca/calibration.hpp"
#include "mir/moca/layer.hpp"

namespace mir::moca {

/// "model.layers.{i}.modality_layernorm.scale".
[[nodiscard]] inline std::string scale_name(int decoder_layer) {
    return "model.layers." + std::to_string(decoder_layer) + ".modality_layernorm.scale";
}
/// "model.layers.{i}.modality_layernorm.shift".
[[nodiscard]] inline std::string shift_name(int decoder_layer) {
    return "model.layers." + std::to_string(decoder_layer) + ".modality_layernorm.shift";
}

namespace detail {

/// Parses an official name: {layer, is_scale}, or nullopt for any other tensor.
inline std::optional<std::pair<int, bool>> parse_official_name(std::string_view name) {
    constexpr std::string_view prefix = "model.layers.";
    constexpr std::string_view scale = ".modality_layernorm.scale";
    constexpr std::string_view shift = ".modality_layernorm.shift";
    if (!name.starts_with(prefix)) return std::nullopt;
    name.remove_prefix(prefix.size());
    bool is_scale;
    if (name.ends_with(scale)) {
        is_scale = true;
        name.remove_suffix(scale.size());
    } else if (name.ends_with(shift)) {
        is_scale = false;
        name.remove_suffix(shift.size());
    } else {
        return std::nullopt;
    }
    if (name.empty() || (name.size() > 1 && name.front() == '0')) return std::nullopt;
    int i = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), i);
    if (ec != std::errc() || end != name.data() + name.size() || i < 0) return std::nullopt;
    return std::pair{i, is_scale};
}

inline Eigen::VectorXd read_vector(const io::tensor_view& t) {
    if (t.shape.size() != 1) {
        throw file_error(t.describe() + ": MoCa parameters have shape [d], found " + io::detail::shape_string(t.shape));
    }
    if (!io::is_floating(t.dtype)) {
        throw file_error(t.describe() + ": MoCa parameters are F32, BF16, F16 or F64, found " +
                         std::string(io::to_string(t.dtype)));
    }
    Eigen::VectorXd out(t.shape[0]);
    if (t.shape[0] == 0) return out;
    io::visit_all_rows(t, [&](const auto& rows) {
        for (index_t j = 0; j < rows.cols; ++j) out[j] = to_acc<double>(rows.row(0)[j]);
    });
    if (!out.allFinite()) throw non_finite_error(t.describe() + ": NaN or Inf in MoCa parameters");
    return out;
}

template <class T>
void append_bytes(std::vector<std::byte>& buf, T x) {
    const std::size_t at = buf.size();
    buf.resize(at + sizeof(T));
    std::memcpy(buf.data() + at, &x, sizeof(T));
}

}  // namespace detail

/// The calibration in an open safetensors file. Every decoder layer 0..K−1
/// must have both tensors, all of one shape [d]; throws mir::file_error
/// naming the file and the missing or malformed tensor, and when the file
/// holds no MoCa tensor at all.
[[nodiscard]] inline calibration load_checkpoint(const io::safetensors_file& file) {
    std::map<int, std::pair<const io::tensor_view*, const io::tensor_view*>> found;
    for (const auto& t : file.tensors()) {
        if (const auto p = detail::parse_official_name(t.name)) {
            auto& slot = found[p->first];
            (p->second ? slot.first : slot.second) = &t;
        }
    }
    const std::string where = file.path().string();
    if (found.empty()) {
        throw file_error(where + ": no MoCa parameters (expected tensors named " + scale_name(0) + " and " +
                         shift_name(0) + ", ...)");
    }
    const int k = found.rbegin()->first + 1;
    calibration c;
    c.layers.reserve(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) {
        const auto it = found.find(i);
        if (it == found.end() || !it->second.first || !it->second.second) {
            const std::string missing = it == found.end() || !it->second.first ? scale_name(i) : shift_name(i);
            throw file_error(where + ": tensor '" + missing + "' is missing (the file has MoCa parameters up to layer " +
                             std::to_string(k - 1) + ")");
        }
        layer_calibration l(detail::read_vector(*it->second.first), detail::read_vector(*it->second.second));
        if (i > 0 && l.dim() != c.hidden_size()) {
            throw file_error(where + ": " + scale_name(i) + " has " + std::to_string(l.dim()) + " entries but " +
                             scale_name(0) + " has " + std::to_string(c.hidden_size()));
        }
        if (l.dim() == 0) throw file_error(where + ": " + scale_name(i) + " is empty");
        c.layers.push_back(std::move(l));
    }
    return c;
}

/// Opens `path` and reads the calibration (see above).
[[nodiscard]] inline calibration load_checkpoint(const std::filesystem::path& path) {
    return load_checkpoint(io::safetensors_file::open(path));
}

/// `x` (decoder layer `layer`'s scale u or shift v) as a checkpoint of
/// `dtype` stores it: narrowed to float, then to BF16 / F16 rounding to
/// nearest even, back in double. Throws numerical_error naming the layer,
/// the parameter, the dimension and the dtype when a value is beyond the
/// dtype's finite range (F16 ends at 65504: a shift of a layer with large
/// means does not fit), rather than storing an infinity.
inline Eigen::VectorXd stored_values(const Eigen::VectorXd& x, io::file_dtype dtype, int layer, bool is_scale) {
    Eigen::VectorXd out(x.size());
    for (Eigen::Index j = 0; j < x.size(); ++j) {
        const auto f = static_cast<float>(x[j]);
        const float stored = dtype == io::file_dtype::bf16  ? static_cast<float>(bfloat16(f))
                             : dtype == io::file_dtype::f16 ? static_cast<float>(half(f))
                                                            : f;
        if (std::isfinite(x[j]) && !std::isfinite(stored)) {
            const double largest = dtype == io::file_dtype::f16 ? 65504.0
                                   : dtype == io::file_dtype::bf16
                                       ? 3.3895313892515355e38
                                       : static_cast<double>(std::numeric_limits<float>::max());
            const auto g = [](double v) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.6g", v);
                return std::string(buf);
            };
            throw numerical_error("layer " + std::to_string(layer) + "'s " + (is_scale ? "scale" : "shift") +
                                  ", dimension " + std::to_string(j) + ": " + g(x[j]) + " is beyond the " +
                                  std::string(io::to_string(dtype)) + " range (largest finite " + g(largest) +
                                  (dtype == io::file_dtype::f16 ? "); store the checkpoint as F32 or BF16"
                                                                : "); no checkpoint dtype holds it"));
        }
        out[j] = static_cast<double>(stored);
    }
    return out;
}

/// Writes every layer's u and v under the official names, in layer order
/// (scale then shift), as F32, BF16 or F16 (rounded to nearest even).
inline void save_checkpoint(const std::filesystem::path& path, const calibration& c,
                            io::file_dtype dtype = io::file_dtype::f32,
                            const std::map<std::string, std::string>& metadata = {}) {
    c.validate();
    if (dtype != io::file_dtype::f32 && dtype != io::file_dtype::bf16 && dtype != io::file_dtype::f16) {
        throw argument_error(path.string() + ": MoCa checkpoints are written as F32, BF16 or F16, not " +
                             std::string(io::to_string(dtype)));
    }
    const index_t d = c.hidden_size();
    std::vector<std::vector<std::byte>> buffers;
    buffers.reserve(c.layers.size() * 2);
    std::vector<io::tensor_to_write> tensors;
    for (std::size_t i = 0; i < c.layers.size(); ++i) {
        for (const bool is_scale : {true, false}) {
            const Eigen::VectorXd& x = is_scale ? c.layers[i].scale : c.layers[i].shift;
            if (!x.allFinite()) {
                throw non_finite_error(path.string() + ": NaN or Inf in layer " + std::to_string(i) + "'s " +
                                       (is_scale ? "scale" : "shift"));
            }
            Eigen::VectorXd stored;
            try {
                stored = stored_values(x, dtype, static_cast<int>(i), is_scale);
            } catch (const numerical_error& e) {
                throw numerical_error(path.string() + ": " + e.message());
            }
            std::vector<std::byte> buf;
            buf.reserve(static_cast<std::size_t>(d) * io::size_of(dtype));
            for (index_t j = 0; j < d; ++j) {
                const auto f = static_cast<float>(stored[j]);  // exact: stored is representable
                if (dtype == io::file_dtype::f32) {
                    detail::append_bytes(buf, f);
                } else if (dtype == io::file_dtype::bf16) {
                    detail::append_bytes(buf, std::bit_cast<std::uint16_t>(bfloat16(f)));
                } else {
                    detail::append_bytes(buf, std::bit_cast<std::uint16_t>(half(f)));
                }
            }
            buffers.push_back(std::move(buf));
            const int layer_index = static_cast<int>(i);
            tensors.push_back({is_scale ? scale_name(layer_index) : shift_name(layer_index), dtype,
                               {static_cast<std::int64_t>(d)}, std::span<const std::byte>(buffers.back())});
        }
    }
    io::write_safetensors(path, tensors, metadata);
}

}  // namespace mir::moca

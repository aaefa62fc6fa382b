// mir/moca/calibration.hpp — a model's MoCa calibration: one layer
// (u, v) per decoder layer, indexed by the 0-based decoder-layer index i of
// the official checkpoint names (model.layers.{i}.modality_layernorm.*).
// Decoder layer i acts on its output, which is hidden-states index i + 1
// (SPEC §1, §5).
#pragma once

#include <string>
#include <vector>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/moca/layer.hpp"

namespace mir::moca {

struct calibration {
    std::vector<layer_calibration> layers;  ///< layers[i]: decoder layer i

    [[nodiscard]] index_t num_layers() const noexcept { return static_cast<index_t>(layers.size()); }
    /// d (0 when there are no layers).
    [[nodiscard]] index_t hidden_size() const noexcept { return layers.empty() ? 0 : layers.front().dim(); }

    /// Throws shape_error unless every layer has scale and shift of one size d > 0.
    void validate() const {
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const layer_calibration& l = layers[i];
            if (l.scale.size() != l.shift.size() || l.scale.size() != hidden_size() || l.scale.size() == 0) {
                throw shape_error("moca calibration: layer " + std::to_string(i) + " has scale of size " +
                                  std::to_string(l.scale.size()) + " and shift of size " +
                                  std::to_string(l.shift.size()) + "; expected both of size " +
                                  std::to_string(hidden_size()) + " (> 0)");
            }
        }
    }

    /// Hidden-states index of decoder layer i's output.
    [[nodiscard]] static constexpr int hidden_state_index(int decoder_layer) noexcept { return decoder_layer + 1; }
};

}  // namespace mir::moca

// mir/moca/init.hpp — initialising MoCa parameters (SPEC §5):
// u ~ N(1, std), v ~ N(0, std). std = 0 gives all ones / all zeros (the
// paper's and the released training script's setting); the official
// training argument defaults to 0.02.
//
// The normal variates come from a portable generator — splitmix64 for the
// bits, Box–Muller for the normals, both written out here — so a seed gives
// the same parameters on every platform and compiler (std::normal_distribution
// does not). They are not PyTorch's torch.normal_ values. Order of draws:
// layer 0's d scales, layer 0's d shifts, layer 1's scales, and so on.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "mir/element.hpp"
#include "mir/error.hpp"
#include "mir/moca/calibration.hpp"
#include "mir/moca/layer.hpp"

namespace mir::moca {

/// splitmix64 (Steele, Lea, Flood 2014): a tiny, portable 64-bit generator.
class splitmix64 {
public:
    explicit constexpr splitmix64(std::uint64_t seed) noexcept : state_(seed) {}

    constexpr std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    /// Uniform in (0, 1]: 53 random bits, never 0 (log is safe).
    constexpr double uniform_open0() noexcept {
        return (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53;
    }

private:
    std::uint64_t state_;
};

/// Standard normal variates by the Box–Muller transform, two per pair of
/// uniforms (the second is cached).
class normal_generator {
public:
    explicit normal_generator(std::uint64_t seed) noexcept : bits_(seed) {}

    double next() noexcept {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double r = std::sqrt(-2.0 * std::log(bits_.uniform_open0()));
        const double theta = 2.0 * std::numbers::pi * bits_.uniform_open0();
        spare_ = r * std::sin(theta);
        has_spare_ = true;
        return r * std::cos(theta);
    }

private:
    splitmix64 bits_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

/// Options of init_calibration.
struct init_options {
    double stddev = 0.0;          ///< 0: all ones / all zeros (the paper); 0.02: the training argument's default
    std::uint64_t seed = 0;       ///< used only when std > 0
};

/// One layer: u_j = 1 + stddev·z, v_j = stddev·z' (z, z' from `gen`).
[[nodiscard]] inline layer_calibration init_layer(index_t d, double stddev, normal_generator& gen) {
    layer_calibration l(d);
    if (stddev == 0.0) return l;
    for (index_t j = 0; j < d; ++j) l.scale[j] = 1.0 + stddev * gen.next();
    for (index_t j = 0; j < d; ++j) l.shift[j] = stddev * gen.next();
    return l;
}

/// `num_layers` layers of hidden size d.
[[nodiscard]] inline calibration init_calibration(index_t num_layers, index_t d, const init_options& opt = {}) {
    if (num_layers < 0 || d <= 0) {
        throw shape_error("moca init: need num_layers >= 0 and d > 0 (got " + std::to_string(num_layers) + ", " +
                          std::to_string(d) + ")");
    }
    if (!(opt.stddev >= 0.0) || !std::isfinite(opt.stddev)) {
        throw argument_error("moca init: std must be finite and >= 0 (got " + std::to_string(opt.stddev) + ")");
    }
    normal_generator gen(opt.seed);
    calibration c;
    c.layers.reserve(static_cast<std::size_t>(num_layers));
    for (index_t i = 0; i < num_layers; ++i) c.layers.push_back(init_layer(d, opt.stddev, gen));
    return c;
}

}  // namespace mir::moca

// tools/mir/plot.hpp — an SVG of per-layer FID against layer index, log y
// axis, like the paper's per-layer modality-gap figure (drawn by svg_plot.hpp).
#pragma once

#include <mir/metric/mir.hpp>

#include <string>

namespace mir::tool {

/// The SVG document; `subtitle` says how the numbers were computed.
std::string fid_plot_svg(const mir_result& r, const std::string& subtitle);

}  // namespace mir::tool

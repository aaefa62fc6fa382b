// tools/mir/svg_plot.hpp — a small SVG scatter/line plot with log axes, for
// `mir bench-sqrt` (style as plot.cpp: white background, decade grid,
// sans-serif, one colour per series, a legend).
#pragma once

#include <string>
#include <vector>

namespace mir::tool {

struct plot_series {
    std::string name;
    std::vector<double> x, y;  ///< points; non-positive or non-finite values are drawn on the axis edge
    bool lines = false;        ///< join the points in x order
};

struct plot_spec {
    std::string title, subtitle, x_label, y_label;
    bool log_x = true, log_y = true;
    /// Optional: label drawn at x = extra_x_at instead of a number (e.g. "rank-def.").
    double extra_x_at = 0.0;
    std::string extra_x_label;
    double y_floor = 0.0;  ///< log axes: values below are drawn at this floor (0 = none)
};

/// The SVG document.
std::string scatter_svg(const plot_spec& spec, const std::vector<plot_series>& series);

}  // namespace mir::tool

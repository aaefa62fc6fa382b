// tools/mir/svg_plot.hpp — the program's one SVG writer: a scatter/line chart
// with log or linear axes, markers, lines and a legend (white background,
// decade grid, sans-serif, one colour per series). `mir compute --plot` and
// `mir bench-sqrt` draw with it.
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
    double y_floor = 0.0;   ///< log axes: values below are drawn at this floor (0 = none)
    bool legend = true;     ///< a legend column at the right (one series: usually not needed)
    bool integer_x = false; ///< linear x axis: ticks at whole numbers only (layer indices)
};

/// The SVG document.
std::string scatter_svg(const plot_spec& spec, const std::vector<plot_series>& series);

}  // namespace mir::tool

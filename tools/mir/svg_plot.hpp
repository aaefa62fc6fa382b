// tools/mir/svg_plot.hpp — the program's one SVG writer: a scatter/line chart
// with log or linear axes, markers, lines and a legend (white background,
// decade grid, sans-serif, one colour per series), and a heat map. `mir
// compute --plot`, `mir bench-sqrt` and `mir track` draw with it.
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

/// A heat map: one column per x label, one row per y label, cell (i, j) =
/// values[j][i] drawn on a log10 colour scale (dark: small, yellow: large;
/// a non-positive or non-finite value is grey), with a colour bar.
struct heatmap_spec {
    std::string title, subtitle, x_label, y_label, value_label;
    std::vector<std::string> x_labels, y_labels;
    std::vector<std::vector<double>> values;  ///< [row][column]
};
std::string heatmap_svg(const heatmap_spec& spec);

}  // namespace mir::tool

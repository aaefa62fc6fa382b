#include "plot.hpp"

#include <cstdio>

#include "svg_plot.hpp"

namespace mir::tool {

std::string fid_plot_svg(const mir_result& r, const std::string& subtitle) {
    char title[64];
    std::snprintf(title, sizeof title, "MIR = %.4f", r.mir);
    plot_spec spec;
    spec.title = title;
    spec.subtitle = subtitle;
    spec.x_label = "layer (hidden-state index)";
    spec.y_label = "FID, vision vs text (log scale)";
    spec.log_x = false;
    spec.integer_x = true;
    spec.legend = false;
    plot_series s;
    s.name = "FID";
    s.lines = true;
    for (const auto& l : r.layers) {
        s.x.push_back(l.layer);
        s.y.push_back(l.fid);
    }
    return scatter_svg(spec, {s});
}

}  // namespace mir::tool

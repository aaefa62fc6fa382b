#include "svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

namespace mir::tool {

namespace {

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '&') o += "&amp;";
        else if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else o += c;
    }
    return o;
}

std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4g", v);
    return b;
}

const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                               "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8",
                               "#ff9896", "#98df8a", "#c5b0d5", "#c49c94"};

struct axis {
    bool log = true;
    double lo = 0, hi = 1;
    double map(double v, double a, double b) const {  // to pixels [a, b]
        double t = log ? (std::log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
        if (!std::isfinite(t)) t = 0;
        return a + (b - a) * std::clamp(t, -0.02, 1.02);
    }
};

// The document's start: size, white background, title and subtitle centred at x = mid.
void open_svg(std::ostringstream& o, double W, double H, double mid, const std::string& title,
              const std::string& subtitle) {
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << ' ' << H << "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o << "<text x=\"" << mid << "\" y=\"28\" text-anchor=\"middle\" font-size=\"17\">" << esc(title)
      << "</text>\n<text x=\"" << mid << "\" y=\"48\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">"
      << esc(subtitle) << "</text>\n";
}

axis fit(const std::vector<double>& v, bool log, double floor) {
    axis a;
    a.log = log;
    double lo = INFINITY, hi = -INFINITY;
    for (double x : v) {
        if (!std::isfinite(x)) continue;
        if (log) {
            x = std::max(x, floor);
            if (x <= 0) continue;
            x = std::log10(x);
        }
        lo = std::min(lo, x);
        hi = std::max(hi, x);
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (log) {
        lo = std::floor(lo);
        hi = std::ceil(hi);
    }
    if (hi <= lo) hi = lo + 1;
    if (!log) {
        const double pad = 0.05 * (hi - lo);
        lo -= pad;
        hi += pad;
    }
    a.lo = lo;
    a.hi = hi;
    return a;
}

}  // namespace

std::string scatter_svg(const plot_spec& spec, const std::vector<plot_series>& series) {
    // Without a legend the chart is narrower by the legend's column; the plot area is the same.
    const double right = spec.legend ? 270 : 30, W = 940 - 270 + right, H = 560, left = 90, top = 70, bottom = 65;
    const double pw = W - left - right, ph = H - top - bottom;
    std::vector<double> xs, ys;
    for (const auto& s : series) {
        xs.insert(xs.end(), s.x.begin(), s.x.end());
        ys.insert(ys.end(), s.y.begin(), s.y.end());
    }
    if (!spec.extra_x_label.empty()) xs.push_back(spec.extra_x_at);
    const axis ax = fit(xs, spec.log_x, 0.0), ay = fit(ys, spec.log_y, spec.y_floor);
    const auto X = [&](double v) { return ax.map(v, left, left + pw); };
    const auto Y = [&](double v) {
        if (spec.log_y) v = std::max(v, spec.y_floor > 0 ? spec.y_floor : std::pow(10.0, ay.lo));
        return ay.map(v, top + ph, top);
    };
    std::ostringstream o;
    open_svg(o, W, H, left + pw / 2, spec.title, spec.subtitle);
    // Grid and tick labels.
    const auto ticks = [&](const axis& a) {
        std::vector<double> t;
        if (a.log) {
            const int step = std::max(1, static_cast<int>((a.hi - a.lo) / 10));
            for (double e = a.lo; e <= a.hi + 1e-9; e += step) t.push_back(std::pow(10.0, e));
        } else {
            const double span = a.hi - a.lo, raw = span / 8, mag = std::pow(10.0, std::floor(std::log10(raw)));
            double st = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
            if (spec.integer_x && &a == &ax) st = std::max(1.0, std::round(st));
            for (double v = std::ceil(a.lo / st) * st; v <= a.hi; v += st) t.push_back(v);
        }
        return t;
    };
    const auto label = [](const axis& a, double v) {
        if (!a.log) return num(v);
        return "1e" + std::to_string(static_cast<int>(std::lround(std::log10(v))));
    };
    for (double v : ticks(ay)) {
        const double y = Y(v);
        o << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
          << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 8 << "\" y=\"" << y + 4
          << "\" text-anchor=\"end\" font-size=\"12\">" << label(ay, v) << "</text>\n";
    }
    for (double v : ticks(ax)) {
        if (!spec.extra_x_label.empty() && std::abs(X(v) - X(spec.extra_x_at)) < 20) continue;
        const double x = X(v);
        o << "<line x1=\"" << x << "\" y1=\"" << top << "\" x2=\"" << x << "\" y2=\"" << top + ph
          << "\" stroke=\"#eee\"/>\n<text x=\"" << x << "\" y=\"" << top + ph + 18
          << "\" text-anchor=\"middle\" font-size=\"12\">" << label(ax, v) << "</text>\n";
    }
    if (!spec.extra_x_label.empty()) {
        o << "<text x=\"" << X(spec.extra_x_at) << "\" y=\"" << top + ph + 18
          << "\" text-anchor=\"middle\" font-size=\"12\">" << esc(spec.extra_x_label) << "</text>\n";
    }
    o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"black\"/>\n";
    o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 18 << "\" text-anchor=\"middle\" font-size=\"14\">"
      << esc(spec.x_label) << "</text>\n<text transform=\"translate(24," << top + ph / 2
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">" << esc(spec.y_label) << "</text>\n";
    // Series.
    for (std::size_t i = 0; i < series.size(); ++i) {
        const auto& s = series[i];
        const char* col = palette[i % (sizeof palette / sizeof *palette)];
        if (s.lines && s.x.size() > 1) {
            std::vector<std::size_t> idx(s.x.size());
            for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
            std::sort(idx.begin(), idx.end(), [&](auto a, auto b) { return s.x[a] < s.x[b]; });
            o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"1.5\" points=\"";
            for (auto k : idx) o << X(s.x[k]) << ',' << Y(s.y[k]) << ' ';
            o << "\"/>\n";
        }
        for (std::size_t k = 0; k < s.x.size(); ++k) {
            const double x = X(s.x[k]), y = Y(s.y[k]);
            if (i % 3 == 0) {
                o << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3.5\" fill=\"" << col << "\" fill-opacity=\"0.8\">";
            } else if (i % 3 == 1) {
                o << "<rect x=\"" << x - 3.5 << "\" y=\"" << y - 3.5 << "\" width=\"7\" height=\"7\" fill=\"" << col
                  << "\" fill-opacity=\"0.8\">";
            } else {
                o << "<path d=\"M" << x << ',' << y - 4.5 << " L" << x + 4 << ',' << y + 3 << " L" << x - 4 << ','
                  << y + 3 << " Z\" fill=\"" << col << "\" fill-opacity=\"0.8\">";
            }
            o << "<title>" << esc(s.name) << ": " << num(s.x[k]) << ", " << num(s.y[k]) << "</title>"
              << (i % 3 == 0 ? "</circle>\n" : i % 3 == 1 ? "</rect>\n" : "</path>\n");
        }
        if (!spec.legend) continue;
        const double ly = top + 8 + 18.0 * static_cast<double>(i), lx = left + pw + 16;
        o << "<rect x=\"" << lx << "\" y=\"" << ly << "\" width=\"10\" height=\"10\" fill=\"" << col
          << "\"/>\n<text x=\"" << lx + 16 << "\" y=\"" << ly + 9.5 << "\" font-size=\"12\">" << esc(s.name)
          << "</text>\n";
    }
    o << "</svg>\n";
    return o.str();
}

namespace {

// A perceptually ordered ramp (dark blue → green → yellow, after viridis), t in [0, 1].
std::string ramp(double t) {
    static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    t = std::clamp(t, 0.0, 1.0) * 4;
    const int k = std::min(3, static_cast<int>(t));
    const double f = t - k;
    char b[8];
    std::snprintf(b, sizeof b, "#%02x%02x%02x", static_cast<int>(stops[k][0] + f * (stops[k + 1][0] - stops[k][0])),
                  static_cast<int>(stops[k][1] + f * (stops[k + 1][1] - stops[k][1])),
                  static_cast<int>(stops[k][2] + f * (stops[k + 1][2] - stops[k][2])));
    return b;
}

}  // namespace

std::string heatmap_svg(const heatmap_spec& spec) {
    const std::size_t nx = spec.x_labels.size(), ny = spec.y_labels.size();
    const double left = 110, top = 70, right = 130, bottom = 80;
    const double cw = std::clamp(700.0 / std::max<std::size_t>(nx, 1), 6.0, 60.0);
    const double ch = std::clamp(420.0 / std::max<std::size_t>(ny, 1), 6.0, 40.0);
    const double pw = cw * static_cast<double>(nx), ph = ch * static_cast<double>(ny);
    const double W = left + pw + right, H = top + ph + bottom;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& row : spec.values) {
        for (double v : row) {
            if (v > 0 && std::isfinite(v)) {
                lo = std::min(lo, std::log10(v));
                hi = std::max(hi, std::log10(v));
            }
        }
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-12) hi = lo + 1;
    std::ostringstream o;
    open_svg(o, W, H, left + pw / 2, spec.title, spec.subtitle);
    for (std::size_t j = 0; j < ny; ++j) {
        const double y = top + ph - ch * static_cast<double>(j + 1);  // row 0 at the bottom
        for (std::size_t i = 0; i < nx; ++i) {
            const double v = j < spec.values.size() && i < spec.values[j].size() ? spec.values[j][i] : NAN;
            const bool ok = v > 0 && std::isfinite(v);
            o << "<rect x=\"" << left + cw * static_cast<double>(i) << "\" y=\"" << y << "\" width=\"" << cw
              << "\" height=\"" << ch << "\" fill=\"" << (ok ? ramp((std::log10(v) - lo) / (hi - lo)) : "#cccccc")
              << "\"><title>" << esc(spec.x_labels[i]) << ", " << esc(spec.y_labels[j]) << ": " << num(v)
              << "</title></rect>\n";
        }
        o << "<text x=\"" << left - 6 << "\" y=\"" << y + ch / 2 + 4 << "\" text-anchor=\"end\" font-size=\"11\">"
          << esc(spec.y_labels[j]) << "</text>\n";
    }
    const std::size_t every = std::max<std::size_t>(1, nx / 12);  // at most about 12 column labels
    for (std::size_t i = 0; i < nx; i += every) {
        o << "<text x=\"" << left + cw * (static_cast<double>(i) + 0.5) << "\" y=\"" << top + ph + 16
          << "\" text-anchor=\"middle\" font-size=\"11\">" << esc(spec.x_labels[i]) << "</text>\n";
    }
    o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 30 << "\" text-anchor=\"middle\" font-size=\"13\">"
      << esc(spec.x_label) << "</text>\n<text x=\"24\" y=\"" << top + ph / 2
      << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 24 " << top + ph / 2 << ")\">"
      << esc(spec.y_label) << "</text>\n";
    // The colour bar: log10 of the values, bottom to top.
    const double bx = left + pw + 30, bh = std::max(ph, 120.0);
    for (int k = 0; k < 50; ++k) {
        o << "<rect x=\"" << bx << "\" y=\"" << top + bh - bh * (k + 1) / 50.0 << "\" width=\"16\" height=\""
          << bh / 50.0 + 0.5 << "\" fill=\"" << ramp(k / 49.0) << "\"/>\n";
    }
    o << "<text x=\"" << bx + 22 << "\" y=\"" << top + bh << "\" font-size=\"11\">" << num(std::pow(10.0, lo))
      << "</text>\n<text x=\"" << bx + 22 << "\" y=\"" << top + 10 << "\" font-size=\"11\">" << num(std::pow(10.0, hi))
      << "</text>\n<text x=\"" << bx << "\" y=\"" << top - 10 << "\" font-size=\"11\">" << esc(spec.value_label)
      << "</text>\n</svg>\n";
    return o.str();
}

}  // namespace mir::tool

#include "plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace mir::tool {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            default: o += c;
        }
    }
    return o;
}

}  // namespace

std::string fid_plot_svg(const mir_result& r, const std::string& subtitle) {
    const double W = 760, H = 460, left = 80, right = 30, top = 70, bottom = 60;
    const double pw = W - left - right, ph = H - top - bottom;
    // Log axis over the positive FIDs (a non-positive FID, possible only as
    // rounding of identical statistics, is drawn on the bottom edge).
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& l : r.layers) {
        if (l.fid > 0) {
            lo = std::min(lo, l.fid);
            hi = std::max(hi, l.fid);
        }
    }
    if (!std::isfinite(lo)) lo = hi = 1.0;
    double dlo = std::floor(std::log10(lo)), dhi = std::ceil(std::log10(hi));
    if (dhi <= dlo) dhi = dlo + 1;
    const int first = r.layers.empty() ? 0 : r.layers.front().layer;
    const int last = r.layers.empty() ? 1 : std::max(r.layers.back().layer, first + 1);
    const auto x_of = [&](int k) { return left + pw * (k - first) / static_cast<double>(last - first); };
    const auto y_of = [&](double f) {
        const double t = f > 0 ? (std::log10(f) - dlo) / (dhi - dlo) : 0.0;
        return top + ph * (1.0 - std::clamp(t, 0.0, 1.0));
    };

    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << ' ' << H << "\" font-family=\"sans-serif\">\n";
    s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"" << W / 2 << "\" y=\"30\" text-anchor=\"middle\" font-size=\"18\">MIR = " << fmt("%.4f", r.mir)
      << "</text>\n";
    s << "<text x=\"" << W / 2 << "\" y=\"50\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">"
      << escape(subtitle) << "</text>\n";
    // Decade grid and labels.
    for (double e = dlo; e <= dhi + 1e-9; e += 1) {
        const double y = y_of(std::pow(10.0, e));
        s << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + pw << "\" y2=\"" << y
          << "\" stroke=\"#ddd\"/>\n";
        s << "<text x=\"" << left - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" font-size=\"12\">1e"
          << static_cast<int>(e) << "</text>\n";
    }
    const int step = std::max(1, (last - first) / 16);
    for (int k = first; k <= last; k += step) {
        const double x = x_of(k);
        s << "<line x1=\"" << x << "\" y1=\"" << top + ph << "\" x2=\"" << x << "\" y2=\"" << top + ph + 5
          << "\" stroke=\"black\"/>\n";
        s << "<text x=\"" << x << "\" y=\"" << top + ph + 20 << "\" text-anchor=\"middle\" font-size=\"12\">" << k
          << "</text>\n";
    }
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"black\"/>\n";
    s << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 15
      << "\" text-anchor=\"middle\" font-size=\"14\">layer (hidden-state index)</text>\n";
    s << "<text transform=\"translate(22," << top + ph / 2
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">FID, vision vs text (log scale)</text>\n";
    // The curve.
    s << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2.5\" points=\"";
    for (const auto& l : r.layers) s << x_of(l.layer) << ',' << y_of(l.fid) << ' ';
    s << "\"/>\n";
    for (const auto& l : r.layers) {
        s << "<circle cx=\"" << x_of(l.layer) << "\" cy=\"" << y_of(l.fid) << "\" r=\"4\" fill=\"#d62728\"><title>layer "
          << l.layer << ": FID " << fmt("%.6g", l.fid) << "</title></circle>\n";
    }
    s << "</svg>\n";
    return s.str();
}

}  // namespace mir::tool

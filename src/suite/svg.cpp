#include "suite/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dsrt::suite {
namespace {

constexpr double kW = 570, kH = 330, kL = 70, kR = 20, kT = 48, kB = 46;
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
const char* color(size_t i) { return kColors[i % 10]; }

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double px0 = 0, px1 = 1;  // pixel range
  double map(double v) const {
    double a = log ? std::log10(std::max(v, 1e-300)) : v, l = log ? std::log10(lo) : lo, h = log ? std::log10(hi) : hi;
    if (h == l) return (px0 + px1) / 2;
    return px0 + (a - l) / (h - l) * (px1 - px0);
  }
  std::vector<double> ticks() const {
    std::vector<double> t;
    if (log) {
      const int e0 = int(std::floor(std::log10(lo))), e1 = int(std::ceil(std::log10(hi)));
      const bool fine = e1 - e0 <= 2;
      for (int e = e0; e <= e1; ++e)
        for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
          const double v = m * std::pow(10.0, e);
          if (v >= lo * 0.999 && v <= hi * 1.001) t.push_back(v);
        }
      return t;
    }
    const double span = hi - lo, raw = span / 5;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
      if (m * mag >= raw) {
        step = m * mag;
        break;
      }
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
    return t;
  }
};

// Extends [lo, hi] to something readable; a log axis needs positive values.
void fit(Axis& a, double lo, double hi, bool zero) {
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (a.log) {
    lo = std::max(lo, 1e-12);
    hi = std::max(hi, lo * 1.0001);
    a.lo = std::pow(10.0, std::floor(std::log10(lo)));
    a.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (a.hi <= a.lo) a.hi = a.lo * 10;
    return;
  }
  if (zero) lo = std::min(lo, 0.0);
  if (hi == lo) hi = lo + 1;
  a.lo = lo;
  a.hi = hi + (hi - lo) * 0.08;
}

std::string header(const std::string& title) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" + num(kH) +
                  "\" viewBox=\"0 0 " + num(kW) + " " + num(kH) +
                  "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\" stroke=\"#cccccc\"/>";
  s += "<text x=\"" + num(kW / 2) + "\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       html_escape(title) + "</text>";
  return s;
}

std::string legend(const std::vector<std::string>& names) {
  std::string s;
  double x = kL;
  for (size_t i = 0; i < names.size(); ++i) {
    const double w = 22 + 6.5 * double(names[i].size());
    if (x + w > kW - kR && x > kL) break;  // the rest would not fit on one line
    s += "<rect x=\"" + num(x) + "\" y=\"25\" width=\"12\" height=\"10\" fill=\"" + color(i) + "\"/>";
    s += "<text x=\"" + num(x + 16) + "\" y=\"34\">" + html_escape(names[i]) + "</text>";
    x += w;
  }
  return s;
}

std::string axes(const Axis& x, const Axis& y, const std::string& xl, const std::string& yl, bool x_ticks) {
  std::string s;
  for (double t : y.ticks()) {
    const double py = y.map(t);
    s += "<line x1=\"" + num(kL) + "\" x2=\"" + num(kW - kR) + "\" y1=\"" + num(py) + "\" y2=\"" + num(py) +
         "\" stroke=\"#e5e5e5\"/>";
    s += "<text x=\"" + num(kL - 4) + "\" y=\"" + num(py + 4) + "\" text-anchor=\"end\">" + fmt_num(t) + "</text>";
  }
  if (x_ticks)
    for (double t : x.ticks()) {
      const double px = x.map(t);
      s += "<line x1=\"" + num(px) + "\" x2=\"" + num(px) + "\" y1=\"" + num(kT) + "\" y2=\"" + num(kH - kB) +
           "\" stroke=\"#f0f0f0\"/>";
      s += "<text x=\"" + num(px) + "\" y=\"" + num(kH - kB + 14) + "\" text-anchor=\"middle\">" + fmt_num(t) +
           "</text>";
    }
  s += "<line x1=\"" + num(kL) + "\" x2=\"" + num(kW - kR) + "\" y1=\"" + num(kH - kB) + "\" y2=\"" + num(kH - kB) +
       "\" stroke=\"#333\"/>";
  s += "<line x1=\"" + num(kL) + "\" x2=\"" + num(kL) + "\" y1=\"" + num(kT) + "\" y2=\"" + num(kH - kB) +
       "\" stroke=\"#333\"/>";
  s += "<text x=\"" + num((kL + kW - kR) / 2) + "\" y=\"" + num(kH - 8) + "\" text-anchor=\"middle\">" +
       html_escape(xl) + "</text>";
  s += "<text transform=\"translate(14," + num((kT + kH - kB) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       html_escape(yl) + "</text>";
  return s;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fmt_num(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a >= 1e12) std::snprintf(b, sizeof b, "%.3gT", v / 1e12);
  else if (a >= 1e9) std::snprintf(b, sizeof b, "%.3gG", v / 1e9);
  else if (a >= 1e6) std::snprintf(b, sizeof b, "%.3gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%.3gk", v / 1e3);
  else std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string svg_xy(const XyChart& c) {
  Axis x, y;
  x.log = c.log_x;
  y.log = c.log_y;
  double xl = 1e300, xh = -1e300, yl = 1e300, yh = -1e300;
  for (const auto& s : c.series)
    for (auto [a, b] : s.points) {
      if ((x.log && a <= 0) || (y.log && b <= 0) || !std::isfinite(a) || !std::isfinite(b)) continue;
      xl = std::min(xl, a), xh = std::max(xh, a), yl = std::min(yl, b), yh = std::max(yh, b);
    }
  std::string s = header(c.title);
  if (xl > xh) return s + "<text x=\"" + num(kW / 2) + "\" y=\"" + num(kH / 2) +
                      "\" text-anchor=\"middle\">no data</text></svg>";
  fit(x, xl, xh, false);
  fit(y, yl, yh, true);
  if (!x.log) x.lo = xl, x.hi = xh == xl ? xl + 1 : xh;
  x.px0 = kL + 8, x.px1 = kW - kR - 8;
  y.px0 = kH - kB, y.px1 = kT;
  std::vector<std::string> names;
  for (const auto& se : c.series) names.push_back(se.name);
  s += legend(names) + axes(x, y, c.x_label, c.y_label, true);
  for (size_t i = 0; i < c.series.size(); ++i) {
    const XySeries& se = c.series[i];
    std::string path;
    for (auto [a, b] : se.points) {
      if ((x.log && a <= 0) || (y.log && b <= 0) || !std::isfinite(a) || !std::isfinite(b)) continue;
      path += (path.empty() ? "" : " ") + num(x.map(a)) + "," + num(y.map(b));
      if (se.markers)
        s += "<circle cx=\"" + num(x.map(a)) + "\" cy=\"" + num(y.map(b)) + "\" r=\"3.5\" fill=\"" + color(i) +
             "\"><title>" + html_escape(se.name) + ": " + fmt_num(a) + ", " + fmt_num(b) + "</title></circle>";
    }
    if (se.line && !path.empty())
      s += "<polyline fill=\"none\" stroke=\"" + std::string(color(i)) + "\" stroke-width=\"2\"" +
           (se.dashed ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + path + "\"/>";
  }
  return s + "</svg>";
}

std::string svg_bars(const BarChart& c) {
  Axis y;
  y.log = c.log_y;
  double lo = 1e300, hi = -1e300;
  for (const auto& [n, vals] : c.series)
    for (double v : vals)
      if (std::isfinite(v) && (!y.log || v > 0)) lo = std::min(lo, v), hi = std::max(hi, v);
  std::string s = header(c.title);
  if (lo > hi || c.categories.empty())
    return s + "<text x=\"" + num(kW / 2) + "\" y=\"" + num(kH / 2) + "\" text-anchor=\"middle\">no data</text></svg>";
  fit(y, y.log ? lo : 0, hi, true);
  y.px0 = kH - kB, y.px1 = kT;
  Axis x;  // unused for ticks
  std::vector<std::string> names;
  for (const auto& se : c.series) names.push_back(se.first);
  s += legend(names) + axes(x, y, "", c.y_label, false);
  const double plot_w = kW - kR - kL, group = plot_w / double(c.categories.size());
  const double bw = std::min(28.0, group * 0.8 / double(std::max<size_t>(c.series.size(), 1)));
  for (size_t k = 0; k < c.categories.size(); ++k) {
    const double gx = kL + group * double(k) + group / 2;
    const double x0 = gx - bw * double(c.series.size()) / 2;
    for (size_t i = 0; i < c.series.size(); ++i) {
      const double v = k < c.series[i].second.size() ? c.series[i].second[k] : NAN;
      if (!std::isfinite(v) || (y.log && v <= 0)) continue;
      const double top = y.map(v), base = y.log ? kH - kB : y.map(std::max(0.0, y.lo));
      s += "<rect x=\"" + num(x0 + bw * double(i)) + "\" y=\"" + num(std::min(top, base)) + "\" width=\"" +
           num(bw - 1) + "\" height=\"" + num(std::fabs(base - top)) + "\" fill=\"" + color(i) + "\"><title>" +
           html_escape(c.series[i].first + " " + c.categories[k]) + ": " + fmt_num(v) + "</title></rect>";
    }
    s += "<text x=\"" + num(gx) + "\" y=\"" + num(kH - kB + 14) + "\" text-anchor=\"middle\">" +
         html_escape(c.categories[k]) + "</text>";
  }
  return s + "</svg>";
}

}  // namespace dsrt::suite

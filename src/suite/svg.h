// Small inline-SVG charts for the HTML reports: XY charts (lines and/or points, linear or log
// axes) and grouped bar charts. Pure string building, no scripts, so a report reads offline
// and renders the same in any browser.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dsrt::suite {

struct XySeries {
  std::string name;
  std::vector<std::pair<double, double>> points;
  bool line = true;     // join the points
  bool markers = true;  // draw a dot per point
  bool dashed = false;
};

struct XyChart {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<XySeries> series;
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;
  std::vector<std::pair<std::string, std::vector<double>>> series;  // one value per category
  bool log_y = false;
};

std::string svg_xy(const XyChart& c);
std::string svg_bars(const BarChart& c);

std::string html_escape(const std::string& s);
// 3 significant digits, k/M/G suffixes for large values ("12.3k").
std::string fmt_num(double v);

}  // namespace dsrt::suite

#include "wrn/report/curves_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "wrn/core/error.h"
#include "wrn/core/text.h"

namespace wrn::train {
namespace {

// ---------------------------------------------------------------------------------------
// 5x7 bitmap font (the classic public-domain "glcdfont" used by many small displays) for
// ASCII 32..126. Five column bytes per glyph, bit 0 = top row; bit 7 is the descender row
// (g, j, p, q, y, comma), so a glyph occupies a 5x8 cell.
constexpr uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x08, 0x07, 0x03, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x2A, 0x1C, 0x7F, 0x1C, 0x2A}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4D, 0x33}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x00, 0x14, 0x00, 0x00},
    {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3E, 0x41, 0x5D, 0x59, 0x4E},
    {0x7C, 0x12, 0x11, 0x12, 0x7C}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x41, 0x3E}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x41, 0x51, 0x73}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x1C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7F, 0x01, 0x03}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4D, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x41},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7F}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
    {0x7F, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7E, 0x09, 0x02}, {0x18, 0xA4, 0xA4, 0x9C, 0x78},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x78, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x18, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x18, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
    {0x04, 0x04, 0x3F, 0x44, 0x24}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4C, 0x90, 0x90, 0x90, 0x7C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02},
};
constexpr int kGlyphAdvance = 6;  // 5 columns + 1 column of spacing
constexpr int kGlyphHeight = 8;   // 7 rows + descender

struct Color {
  uint8_t r, g, b;
};
constexpr Color kWhite{255, 255, 255};
constexpr Color kText{25, 25, 25};
constexpr Color kAxis{70, 70, 70};
constexpr Color kGrid{228, 228, 228};
constexpr Color kBlue{31, 119, 180};
constexpr Color kOrange{255, 127, 14};
constexpr Color kRed{214, 39, 40};
constexpr Color kGreen{44, 160, 44};

struct Rect {
  int x0, y0, x1, y1;
};

enum class HAlign { left, center, right };
enum class VAlign { top, middle, bottom };

// Drawing primitives on an RgbImage; everything is clipped to the image.
class Canvas {
 public:
  Canvas(int w, int h) : img_(w, h) {}
  RgbImage take() { return std::move(img_); }
  int width() const { return img_.width; }
  int height() const { return img_.height; }

  void blend(int x, int y, Color c, double a) {
    if (x < 0 || y < 0 || x >= img_.width || y >= img_.height || a <= 0) return;
    a = std::min(a, 1.0);
    uint8_t* p = img_.at(x, y);
    p[0] = static_cast<uint8_t>(std::lround(p[0] + (c.r - p[0]) * a));
    p[1] = static_cast<uint8_t>(std::lround(p[1] + (c.g - p[1]) * a));
    p[2] = static_cast<uint8_t>(std::lround(p[2] + (c.b - p[2]) * a));
  }

  // Fills [x0, x1) x [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Color c) {
    for (int y = std::max(y0, 0); y < std::min(y1, img_.height); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, img_.width); ++x) blend(x, y, c, 1.0);
  }
  void rect_outline(int x0, int y0, int x1, int y1, Color c) {
    fill_rect(x0, y0, x1, y0 + 1, c);
    fill_rect(x0, y1 - 1, x1, y1, c);
    fill_rect(x0, y0, x0 + 1, y1, c);
    fill_rect(x1 - 1, y0, x1, y1, c);
  }

  static int text_width(const std::string& s, int scale) {
    return s.empty() ? 0 : static_cast<int>(s.size()) * kGlyphAdvance * scale - scale;
  }
  static int text_height(int scale) { return 7 * scale; }  // cap height, without descenders

  // Horizontal text anchored at (x, y) by the alignment; `scale` magnifies each font pixel.
  void text(int x, int y, const std::string& s, Color c, int scale, HAlign h = HAlign::left,
            VAlign v = VAlign::top) {
    const int w = text_width(s, scale);
    if (h == HAlign::center) x -= w / 2;
    if (h == HAlign::right) x -= w;
    if (v == VAlign::middle) y -= text_height(scale) / 2;
    if (v == VAlign::bottom) y -= text_height(scale);
    for (char ch : s) {
      const uint8_t* g = glyph(ch);
      for (int col = 0; col < 5; ++col)
        for (int row = 0; row < kGlyphHeight; ++row)
          if (g[col] >> row & 1) fill_rect(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
      x += kGlyphAdvance * scale;
    }
  }

  // Text rotated 90 degrees counter-clockwise (reads bottom to top), centred on (cx, cy).
  void text_vertical(int cx, int cy, const std::string& s, Color c, int scale) {
    const int w = text_width(s, scale);
    int y = cy + w / 2;  // baseline start at the bottom
    const int x0 = cx - text_height(scale) / 2;
    for (char ch : s) {
      const uint8_t* g = glyph(ch);
      for (int col = 0; col < 5; ++col)
        for (int row = 0; row < kGlyphHeight; ++row)
          if (g[col] >> row & 1)
            fill_rect(x0 + row * scale, y - (col + 1) * scale, x0 + (row + 1) * scale, y - col * scale, c);
      y -= kGlyphAdvance * scale;
    }
  }

  // An anti-aliased polyline of the given width through points in pixel coordinates.
  // Coverage is accumulated with max() before blending, so joints are not drawn twice.
  void polyline(const std::vector<std::pair<double, double>>& pts, Color c, double width) {
    polyline(pts, c, width, {0, 0, img_.width, img_.height});
  }
  // The same, drawing only inside the clip rectangle [x0, x1) x [y0, y1).
  void polyline(const std::vector<std::pair<double, double>>& pts, Color c, double width, Rect clip) {
    if (pts.size() < 2) return;
    double minx = pts[0].first, maxx = minx, miny = pts[0].second, maxy = miny;
    for (const auto& p : pts) {
      minx = std::min(minx, p.first), maxx = std::max(maxx, p.first);
      miny = std::min(miny, p.second), maxy = std::max(maxy, p.second);
    }
    const double pad = width / 2 + 1;
    const int bx0 = std::max({0, clip.x0, static_cast<int>(std::floor(minx - pad))});
    const int by0 = std::max({0, clip.y0, static_cast<int>(std::floor(miny - pad))});
    const int bx1 = std::min({img_.width, clip.x1, static_cast<int>(std::ceil(maxx + pad)) + 1});
    const int by1 = std::min({img_.height, clip.y1, static_cast<int>(std::ceil(maxy + pad)) + 1});
    if (bx0 >= bx1 || by0 >= by1) return;
    const int bw = bx1 - bx0;
    std::vector<float> cov(static_cast<size_t>(bw) * (by1 - by0), 0.f);
    for (size_t i = 0; i + 1 < pts.size(); ++i) {
      const double ax = pts[i].first, ay = pts[i].second, qx = pts[i + 1].first, qy = pts[i + 1].second;
      const int sx0 = std::max(bx0, static_cast<int>(std::floor(std::min(ax, qx) - pad)));
      const int sx1 = std::min(bx1, static_cast<int>(std::ceil(std::max(ax, qx) + pad)) + 1);
      const int sy0 = std::max(by0, static_cast<int>(std::floor(std::min(ay, qy) - pad)));
      const int sy1 = std::min(by1, static_cast<int>(std::ceil(std::max(ay, qy) + pad)) + 1);
      const double dx = qx - ax, dy = qy - ay, len2 = dx * dx + dy * dy;
      for (int y = sy0; y < sy1; ++y)
        for (int x = sx0; x < sx1; ++x) {
          const double px = x + 0.5, py = y + 0.5;
          double t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0.0;
          t = std::clamp(t, 0.0, 1.0);
          const double ex = ax + t * dx - px, ey = ay + t * dy - py;
          const double d = std::sqrt(ex * ex + ey * ey);
          const float a = static_cast<float>(std::clamp(width / 2 + 0.5 - d, 0.0, 1.0));
          float& slot = cov[static_cast<size_t>(y - by0) * bw + (x - bx0)];
          slot = std::max(slot, a);
        }
    }
    for (int y = by0; y < by1; ++y)
      for (int x = bx0; x < bx1; ++x) blend(x, y, c, cov[static_cast<size_t>(y - by0) * bw + (x - bx0)]);
  }

  // An anti-aliased filled disc.
  void disc(double cx, double cy, double r, Color c) {
    for (int y = static_cast<int>(std::floor(cy - r - 1)); y <= static_cast<int>(std::ceil(cy + r + 1)); ++y)
      for (int x = static_cast<int>(std::floor(cx - r - 1)); x <= static_cast<int>(std::ceil(cx + r + 1)); ++x) {
        const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
        blend(x, y, c, std::clamp(r + 0.5 - d, 0.0, 1.0));
      }
  }

 private:
  static const uint8_t* glyph(char ch) {
    const int i = static_cast<unsigned char>(ch) - 32;
    return kFont[(i >= 0 && i < 95) ? i : ('?' - 32)];
  }
  RgbImage img_;
};

// ---------------------------------------------------------------------------------------
// Axis scaling.

// Tick positions at 1, 2 or 5 times a power of ten, about `target` of them over [lo, hi].
struct Ticks {
  double lo, hi, step;
  std::vector<double> values;
  int decimals;
};

Ticks nice_ticks(double lo, double hi, int target, bool integer_steps) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  if (integer_steps) step = std::max(1.0, std::round(step));
  Ticks t;
  t.step = step;
  t.lo = std::floor(lo / step + 1e-9) * step;
  t.hi = std::ceil(hi / step - 1e-9) * step;
  if (t.hi <= t.lo) t.hi = t.lo + step;
  for (double v = t.lo; v <= t.hi + step * 1e-6; v += step) t.values.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  const double frac = step / std::pow(10.0, std::floor(std::log10(step)));
  t.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step))) + (std::abs(frac - 2.5) < 1e-9 ? 1 : 0));
  return t;
}

std::string format_number(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

// The pixel row of value y on a plot whose y axis spans the ticks' range.
double y_pixel(const Rect& plot, const Ticks& yt, double y) {
  return plot.y1 - 1 - (y - yt.lo) / (yt.hi - yt.lo) * (plot.y1 - 1 - plot.y0);
}

// Horizontal grid lines, tick marks and labels at the y ticks (the curves and the spread plot).
void draw_y_axis(Canvas& cv, const Rect& plot, const Ticks& yt) {
  for (double v : yt.values) {
    const int y = static_cast<int>(std::lround(y_pixel(plot, yt, v)));
    cv.fill_rect(plot.x0, y, plot.x1, y + 1, kGrid);
    cv.fill_rect(plot.x0 - 6, y, plot.x0, y + 1, kAxis);
    cv.text(plot.x0 - 10, y, format_number(v, yt.decimals), kText, 2, HAlign::right, VAlign::middle);
  }
}

struct Series {
  std::string label;
  Color color;
  double width;
  std::vector<std::pair<double, double>> points;  // (epoch, value); NaN values break the line
};

// One panel: frame, grid, ticks, axis labels, series, legend (top right) and an optional
// marked point (the best test error).
// `y_cap`: when finite, the y axis ends there even if data go higher (those parts are
// clipped and the panel says so), so early epochs do not flatten the interesting end.
void draw_panel(Canvas& cv, Rect r, const std::string& title, const std::string& ylabel,
                const std::vector<Series>& series, double x_max, const std::pair<double, double>* mark,
                double y_cap = std::numeric_limits<double>::infinity()) {
  constexpr int kLeft = 78, kRight = 16, kTop = 40, kBottom = 58;
  const Rect plot{r.x0 + kLeft, r.y0 + kTop, r.x1 - kRight, r.y1 - kBottom};
  const int title_scale = Canvas::text_width(title, 2) <= r.x1 - r.x0 - 8 ? 2 : 1;
  const int title_x = std::clamp((plot.x0 + plot.x1) / 2, r.x0 + Canvas::text_width(title, title_scale) / 2 + 4,
                                 r.x1 - Canvas::text_width(title, title_scale) / 2 - 4);
  cv.text(title_x, r.y0 + 12, title, kText, title_scale, HAlign::center);

  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  for (const auto& s : series)
    for (const auto& p : s.points)
      if (std::isfinite(p.second)) ymin = std::min(ymin, p.second), ymax = std::max(ymax, p.second);
  const bool has_data = std::isfinite(ymin);
  if (!has_data) ymin = 0, ymax = 1;
  // Start at zero like the papers' figures unless the data go below it.
  double lo = std::min(0.0, ymin), hi = ymax;
  const bool clipped = has_data && hi > y_cap && y_cap > lo;
  if (clipped) hi = y_cap;
  if (hi - lo < 1e-12) hi = lo + std::max(1.0, std::abs(lo));  // constant values
  hi += (hi - lo) * 0.04;
  const Ticks yt = nice_ticks(lo, hi, 6, false);
  const Ticks xt = nice_ticks(0, std::max(x_max, 1.0), 8, true);

  auto px = [&](double x) { return plot.x0 + (x - xt.lo) / (xt.hi - xt.lo) * (plot.x1 - 1 - plot.x0); };
  auto py = [&](double y) { return y_pixel(plot, yt, y); };

  draw_y_axis(cv, plot, yt);
  for (double v : xt.values) {
    const int x = static_cast<int>(std::lround(px(v)));
    cv.fill_rect(x, plot.y0, x + 1, plot.y1, kGrid);
    cv.fill_rect(x, plot.y1, x + 1, plot.y1 + 6, kAxis);
    cv.text(x, plot.y1 + 11, format_number(v, 0), kText, 2, HAlign::center);
  }
  cv.rect_outline(plot.x0, plot.y0, plot.x1, plot.y1, kAxis);
  cv.text((plot.x0 + plot.x1) / 2, r.y1 - 8, "epoch", kText, 2, HAlign::center, VAlign::bottom);
  cv.text_vertical(r.x0 + 12, (plot.y0 + plot.y1) / 2, ylabel, kText, 2);

  if (!has_data) {
    cv.text((plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2, "no data yet", kAxis, 2, HAlign::center, VAlign::middle);
    return;
  }
  for (const auto& s : series) {
    std::vector<std::pair<double, double>> run;
    auto flush = [&] {
      if (run.size() == 1 && run[0].second >= plot.y0) cv.disc(run[0].first, run[0].second, s.width + 1.5, s.color);
      cv.polyline(run, s.color, s.width, plot);
      run.clear();
    };
    for (const auto& p : s.points) {
      if (!std::isfinite(p.second)) {
        flush();
        continue;
      }
      run.emplace_back(px(p.first), py(p.second));
    }
    flush();
    // Markers on short runs show where the epochs are.
    size_t finite = 0;
    for (const auto& p : s.points) finite += std::isfinite(p.second) ? 1 : 0;
    if (finite > 1 && finite <= 25)
      for (const auto& p : s.points)
        if (std::isfinite(p.second) && py(p.second) >= plot.y0) cv.disc(px(p.first), py(p.second), s.width + 1.0, s.color);
  }
  if (mark && std::isfinite(mark->second)) {
    const double mx = px(mark->first), my = py(mark->second);
    cv.disc(mx, my, 6.0, kText);
    cv.disc(mx, my, 4.0, kWhite);
    cv.disc(mx, my, 2.5, kRed);
  }

  if (clipped)
  {
    const std::string note = fmt::format("axis cut at {:g}", yt.hi);
    cv.fill_rect(plot.x0 + 4, plot.y0 + 4, plot.x0 + 12 + Canvas::text_width(note, 2), plot.y0 + 26, kWhite);
    cv.text(plot.x0 + 8, plot.y0 + 8, note, kAxis, 2, HAlign::left);
  }

  // Legend, top right inside the plot.
  int label_w = 0;
  for (const auto& s : series) label_w = std::max(label_w, Canvas::text_width(s.label, 2));
  const int row_h = 22, lw = 34 + label_w + 20, lh = static_cast<int>(series.size()) * row_h + 10;
  const int lx1 = plot.x1 - 10, lx0 = lx1 - lw, ly0 = plot.y0 + 10;
  cv.fill_rect(lx0, ly0, lx1, ly0 + lh, kWhite);
  cv.rect_outline(lx0, ly0, lx1, ly0 + lh, {190, 190, 190});
  for (size_t i = 0; i < series.size(); ++i) {
    const double cy = ly0 + 5 + row_h * (i + 0.5);
    cv.polyline({{lx0 + 8.0, cy}, {lx0 + 34.0, cy}}, series[i].color, series[i].width + 0.5);
    cv.text(lx0 + 42, static_cast<int>(std::lround(cy)), series[i].label, kText, 2, HAlign::left, VAlign::middle);
  }
}

Color blues(double f) {
  // A white -> dark-blue ramp (like matplotlib's "Blues").
  static const Color stops[] = {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
  f = std::clamp(f, 0.0, 1.0) * 4;
  const int i = std::min(static_cast<int>(f), 3);
  const double t = f - i;
  auto mix = [&](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * t)); };
  return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b)};
}

}  // namespace

RgbImage render_curves(const std::vector<EpochMetrics>& metrics, const CurvesPlotOptions& options) {
  WRN_CHECK(options.width >= 480 && options.height >= 240 && options.width <= 8192 && options.height <= 8192,
            "curves plot size {}x{}: expected 480..8192 x 240..8192 pixels", options.width, options.height);
  Canvas cv(options.width, options.height);
  constexpr int kTitleH = 46;
  cv.text(options.width / 2, 14, options.title, kText, 3, HAlign::center);

  Series train_loss{"train loss", kBlue, 2.5, {}}, test_loss{"test loss", kOrange, 2.0, {}};
  Series test_err{"test top-1", kRed, 2.5, {}}, train_err{"train top-1", kBlue, 2.0, {}},
      test5{"test top-5", kGreen, 1.5, {}};
  double x_max = 1;
  std::pair<double, double> best{0, std::numeric_limits<double>::quiet_NaN()};
  for (const auto& m : metrics) {
    const double e = m.epoch;
    x_max = std::max(x_max, e);
    train_loss.points.emplace_back(e, m.train_loss);
    test_loss.points.emplace_back(e, m.test_loss);
    test_err.points.emplace_back(e, m.test_top1_err);
    train_err.points.emplace_back(e, m.train_top1_err);
    test5.points.emplace_back(e, m.test_top5_err);
    if (std::isfinite(m.test_top1_err) && !(m.test_top1_err >= best.second)) best = {e, m.test_top1_err};
  }
  std::string err_title = "Error (%)";
  if (std::isfinite(best.second)) {
    err_title = fmt::format("Test error: best {:.2f}% (ep. {})", best.second, static_cast<int>(best.first));
    if (!metrics.empty() && std::isfinite(metrics.back().test_top1_err))
      err_title += fmt::format(", final {:.2f}%", metrics.back().test_top1_err);
  }
  const int mid = options.width / 2;
  draw_panel(cv, {0, kTitleH, mid, options.height}, "Loss", "cross-entropy loss", {train_loss, test_loss}, x_max,
             nullptr);
  // Like the papers' figures, zoom on the low-error end: the axis stops at five times the
  // best test error (at least 20%), which keeps the last epochs' differences visible.
  const double cap = std::isfinite(best.second) ? std::max(20.0, 5 * best.second) : std::numeric_limits<double>::infinity();
  draw_panel(cv, {mid, kTitleH, options.width, options.height}, err_title, "error (%)", {test_err, train_err, test5},
             x_max, &best, cap);
  return cv.take();
}

void plot_curves(const std::string& path, const std::vector<EpochMetrics>& metrics, const CurvesPlotOptions& options) {
  write_png(path, render_curves(metrics, options));
}

RgbImage render_confusion_matrix(const std::vector<std::vector<int64_t>>& counts, const ConfusionPlotOptions& options) {
  const int n = static_cast<int>(counts.size());
  WRN_CHECK(n > 0 && n <= 1000, "confusion matrix: expected 1..1000 classes, got {}", n);
  int64_t total = 0, correct = 0;
  for (int i = 0; i < n; ++i) {
    WRN_CHECK(static_cast<int>(counts[i].size()) == n, "confusion matrix: row {} has {} entries, expected {}", i,
              counts[i].size(), n);
    for (int j = 0; j < n; ++j) {
      WRN_CHECK(counts[i][j] >= 0, "confusion matrix: negative count {} at ({}, {})", counts[i][j], i, j);
      total += counts[i][j];
      if (i == j) correct += counts[i][j];
    }
  }
  WRN_CHECK(options.class_names.empty() || static_cast<int>(options.class_names.size()) == n,
            "confusion matrix: {} class names for {} classes", options.class_names.size(), n);

  const int cell = std::clamp(720 / n, 2, 60);
  const int grid = cell * n;
  const bool show_names = !options.class_names.empty() && n <= 20;
  const int left = 96, top = 130, right = 120, bottom = show_names ? 48 + 22 * ((n + 1) / 2) : 30;
  const int w = std::max(left + grid + right, 520), h = top + grid + bottom;
  Canvas cv(w, h);

  const std::string acc = total > 0 ? fmt::format("{:.2f}%", 100.0 * correct / total) : std::string("n/a");
  cv.text(w / 2, 12, options.title, kText, 3, HAlign::center);
  cv.text(w / 2, 50, fmt::format("{} images, accuracy {}", total, acc), kText, 2, HAlign::center);
  cv.text(left + grid / 2, top - 34, "predicted class", kText, 2, HAlign::center, VAlign::bottom);
  cv.text_vertical(20, top + grid / 2, "true class", kText, 2);

  // Label every k-th class so labels never overlap.
  const int label_scale = cell >= 24 ? 2 : 1;
  const int label_h = Canvas::text_height(label_scale) + 4;
  const int label_w = Canvas::text_width(std::to_string(n - 1), label_scale) + 4;
  int k = 1;
  while (k * cell < std::max(label_h, label_w)) k = k < 5 ? k + 1 : (k < 10 ? 10 : k * 2);
  for (int i = 0; i < n; i += k) {
    const int c = i * cell + cell / 2;
    cv.text(left - 8, top + c, std::to_string(i), kText, label_scale, HAlign::right, VAlign::middle);
    cv.text(left + c, top - 8, std::to_string(i), kText, label_scale, HAlign::center, VAlign::bottom);
  }

  for (int i = 0; i < n; ++i) {
    int64_t row = 0;
    for (int j = 0; j < n; ++j) row += counts[i][j];
    for (int j = 0; j < n; ++j) {
      const double f = row > 0 ? static_cast<double>(counts[i][j]) / row : 0.0;
      const int x0 = left + j * cell, y0 = top + i * cell;
      cv.fill_rect(x0, y0, x0 + cell, y0 + cell, blues(f));
      const std::string s = std::to_string(counts[i][j]);
      const int scale = Canvas::text_width(s, 2) + 6 <= cell && cell >= 30 ? 2 : 1;
      if (Canvas::text_width(s, scale) + 4 <= cell && Canvas::text_height(scale) + 4 <= cell)
        cv.text(x0 + cell / 2, y0 + cell / 2, s, f > 0.5 ? kWhite : kText, scale, HAlign::center, VAlign::middle);
    }
  }
  if (cell >= 8)  // thin separators keep adjacent cells of equal colour apart
    for (int i = 0; i <= n; ++i) {
      cv.fill_rect(left, top + i * cell, left + grid, top + i * cell + 1, kWhite);
      cv.fill_rect(left + i * cell, top, left + i * cell + 1, top + grid, kWhite);
    }
  cv.rect_outline(left - 1, top - 1, left + grid + 1, top + grid + 1, kAxis);

  // Colour bar: share of the true class, 0..100%.
  const int bx = left + grid + 24, bw = 18;
  for (int y = 0; y < grid; ++y) cv.fill_rect(bx, top + y, bx + bw, top + y + 1, blues(1.0 - static_cast<double>(y) / std::max(grid - 1, 1)));
  cv.rect_outline(bx, top, bx + bw, top + grid, kAxis);
  cv.text(bx + bw + 6, top, "100%", kText, 1 + (grid >= 200), HAlign::left, VAlign::middle);
  cv.text(bx + bw + 6, top + grid, "0%", kText, 1 + (grid >= 200), HAlign::left, VAlign::middle);
  cv.text_vertical(bx + bw + 22, top + grid / 2, "share of the true class", kText, 1 + (grid >= 300));

  if (show_names)
    for (int i = 0; i < n; ++i) {
      const int col = i % 2, row = i / 2;
      cv.text(left + col * std::max(grid / 2, 220), top + grid + 28 + row * 22,
              fmt::format("{}: {}", i, options.class_names[i]), kText, 2);
    }
  return cv.take();
}

void plot_confusion_matrix(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                           const ConfusionPlotOptions& options) {
  write_png(path, render_confusion_matrix(counts, options));
}

namespace {

// A dashed horizontal line from x0 to x1 at y: `on` pixels drawn, `off` left out.
void dashed_hline(Canvas& cv, double x0, double x1, double y, Color c, double width, double on = 8, double off = 5) {
  for (double x = x0; x < x1; x += on + off) cv.polyline({{x, y}, {std::min(x + on, x1), y}}, c, width);
}

// `s` cut (ending in "..") to fit `max_w` pixels at `scale`.
std::string fit_text(const std::string& s, int scale, int max_w) {
  if (Canvas::text_width(s, scale) <= max_w) return s;
  std::string t = s;
  while (!t.empty() && Canvas::text_width(t + "..", scale) > max_w) t.pop_back();
  return t + "..";
}

}  // namespace

RgbImage render_spread(const std::vector<SpreadColumn>& columns, const SpreadPlotOptions& options) {
  WRN_CHECK(options.height >= 240 && options.height <= 8192, "spread plot height {}: expected 240..8192 pixels",
            options.height);
  const int n = static_cast<int>(columns.size());
  std::vector<std::vector<std::string>> labels;
  size_t label_lines = 1;
  int widest = 0;
  for (const auto& c : columns) {
    labels.push_back(split(c.label, '\n'));
    label_lines = std::max(label_lines, labels.back().size());
    for (const auto& l : labels.back()) widest = std::max(widest, Canvas::text_width(l, 1));
  }
  constexpr int kLeft = 90, kRight = 24, kTop = 96, kMaxWidth = 8192;
  // Labels at scale 2 when the figure stays within bounds that way, else at scale 1.
  int label_scale = 2;
  int col_w = std::max(110, 2 * widest + 16);
  if (kLeft + kRight + n * col_w > kMaxWidth) label_scale = 1, col_w = std::max(110, widest + 12);
  if (n > 0 && kLeft + kRight + n * col_w > kMaxWidth) col_w = std::max(8, (kMaxWidth - kLeft - kRight) / n);
  const int line_h = Canvas::text_height(label_scale) + 4 * label_scale;
  const int bottom = 24 + static_cast<int>(label_lines) * line_h;
  const int width = std::clamp(kLeft + kRight + n * col_w, 480, kMaxWidth);
  col_w = (width - kLeft - kRight) / std::max(n, 1);  // the columns fill the minimum width
  const int height = std::max(options.height, kTop + bottom + 120);
  Canvas cv(width, std::min(height, kMaxWidth));
  const Rect plot{kLeft, kTop, kLeft + std::max(n, 1) * col_w, cv.height() - bottom};
  const int title_scale = Canvas::text_width(options.title, 3) <= width - 16 ? 3 : (Canvas::text_width(options.title, 2) <= width - 16 ? 2 : 1);
  cv.text(width / 2, 14, fit_text(options.title, title_scale, width - 16), kText, title_scale, HAlign::center);

  // Legend: dot "seed", line "median", dashed line "paper" (when any column has a reference).
  bool any_reference = false;
  for (const auto& c : columns) any_reference = any_reference || std::isfinite(c.reference);
  {
    int x = kLeft;
    const int y = 66;
    cv.disc(x + 12, y, 5.5, kText);
    cv.disc(x + 12, y, 4.5, kBlue);
    cv.text(x + 26, y, "seed", kText, 2, HAlign::left, VAlign::middle);
    x += 26 + Canvas::text_width("seed", 2) + 28;
    cv.polyline({{x + 0.0, y + 0.0}, {x + 28.0, y + 0.0}}, kRed, 2.5);
    cv.text(x + 36, y, "median", kText, 2, HAlign::left, VAlign::middle);
    x += 36 + Canvas::text_width("median", 2) + 28;
    if (any_reference) {
      dashed_hline(cv, x, x + 30, y, kGreen, 2.0);
      cv.text(x + 38, y, "paper", kText, 2, HAlign::left, VAlign::middle);
    }
  }

  // The y axis: every value, median and reference, padded by a tenth of their range.
  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  auto take = [&](double v) {
    if (std::isfinite(v)) ymin = std::min(ymin, v), ymax = std::max(ymax, v);
  };
  for (const auto& c : columns) {
    for (double v : c.values) take(v);
    take(c.median);
    take(c.reference);
  }
  const bool has_data = std::isfinite(ymin);
  if (!has_data) ymin = 0, ymax = 1;
  double span = ymax - ymin;
  if (span < 1e-9) span = std::max(1.0, std::abs(ymin) * 0.1);
  double lo = ymin - span * 0.1, hi = ymax + span * 0.1;
  if (ymin >= 0) lo = std::max(lo, 0.0);  // errors are never negative
  const Ticks yt = nice_ticks(lo, hi, 6, false);
  auto py = [&](double y) { return y_pixel(plot, yt, y); };
  draw_y_axis(cv, plot, yt);
  for (int i = 1; i < n; ++i) cv.fill_rect(plot.x0 + i * col_w, plot.y0, plot.x0 + i * col_w + 1, plot.y1, kGrid);
  cv.rect_outline(plot.x0, plot.y0, plot.x1, plot.y1, kAxis);
  cv.text_vertical(14, (plot.y0 + plot.y1) / 2, options.ylabel, kText, 2);
  if (n == 0 || !has_data)
    cv.text((plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2, n == 0 ? "no configurations" : "no finished runs yet",
            kAxis, 2, HAlign::center, VAlign::middle);

  for (int i = 0; i < n; ++i) {
    const auto& c = columns[i];
    const double cx = plot.x0 + (i + 0.5) * col_w;
    if (std::isfinite(c.reference)) dashed_hline(cv, cx - col_w * 0.45, cx + col_w * 0.45, py(c.reference), kGreen, 2.0);
    if (std::isfinite(c.median)) cv.polyline({{cx - col_w * 0.35, py(c.median)}, {cx + col_w * 0.35, py(c.median)}}, kRed, 2.5);
    std::vector<double> finite;
    for (double v : c.values)
      if (std::isfinite(v)) finite.push_back(v);
    const double k = static_cast<double>(finite.size());
    const double step = k > 1 ? std::min(14.0, col_w * 0.6 / (k - 1)) : 0.0;
    for (size_t j = 0; j < finite.size(); ++j) {
      const double x = cx + (static_cast<double>(j) - (k - 1) / 2) * step;
      cv.disc(x, py(finite[j]), 5.5, kText);
      cv.disc(x, py(finite[j]), 4.5, kBlue);
    }
    for (size_t l = 0; l < labels[i].size(); ++l)
      cv.text(static_cast<int>(std::lround(cx)), plot.y1 + 12 + static_cast<int>(l) * line_h,
              fit_text(labels[i][l], label_scale, col_w - 6), kText, label_scale, HAlign::center);
  }
  return cv.take();
}

void plot_spread(const std::string& path, const std::vector<SpreadColumn>& columns, const SpreadPlotOptions& options) {
  write_png(path, render_spread(columns, options));
}

}  // namespace wrn::train

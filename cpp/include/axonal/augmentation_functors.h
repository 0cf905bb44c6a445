// The augmentation op family's per-image maths, written once for C++ and CUDA (__host__ __device__):
// the random parameters of an image (docs/design.md, "Randomness") and the taps of the affine
// resampling. The NumPy twins are backend/philox.py (augmentation_uniforms, sin_cos) and
// backend/reference_augmentation.py; they use the same double operations in the same order, so the
// parameters are bit-identical on every backend. Only +, −, ×, / and floor are used (no libm sin/cos,
// whose last bits differ between libraries): the build keeps multiply and add apart
// (-ffp-contract=off, nvcc --fmad=false), as NumPy's separate ufuncs do.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "axonal/philox.h"

namespace axonal {

// What an augmentation layer draws per image. The geometric kinds write a 2×3 matrix mapping an
// output pixel (i, j, 1) to the input point (row, column) it reads; contrast writes its factor.
enum class AugmentKind : int {
  flip_horizontal, flip_vertical, flip_both, translation, rotation, zoom, zoom_keep_aspect, contrast
};
enum class FillMode : int { reflect, wrap, constant, nearest };

inline bool parse_augment_kind(const char* name, AugmentKind* kind) {
  const char* names[] = {"flip_horizontal", "flip_vertical", "flip_both", "translation", "rotation",
                         "zoom", "zoom_keep_aspect", "contrast"};
  for (int k = 0; k < 8; ++k)
    if (std::strcmp(name, names[k]) == 0) return *kind = static_cast<AugmentKind>(k), true;
  return false;
}

inline bool parse_fill_mode(const char* name, FillMode* mode) {
  const char* names[] = {"reflect", "wrap", "constant", "nearest"};
  for (int k = 0; k < 4; ++k)
    if (std::strcmp(name, names[k]) == 0) return *mode = static_cast<FillMode>(k), true;
  return false;
}

inline bool parse_interpolation(const char* name, bool* bilinear) {
  if (std::strcmp(name, "bilinear") == 0) return *bilinear = true, true;
  if (std::strcmp(name, "nearest") == 0) return *bilinear = false, true;
  return false;
}

constexpr int kAugmentParams = 6;  // per image: the 2×3 matrix row-major, or (factor, 0, 0, 0, 0, 0)

// sin and cos of a (|a| ≤ 8π) from a quadrant reduction and Taylor polynomials of degree 17 and 16
// on |r| ≤ π/4 (error below 1e-16 there). Every constant is an exact integer ratio, rounded once.
AXONAL_HD void augment_sin_cos(double a, double* sine, double* cosine) {
  const double kHalfPiHi = 1.5707963267341256;    // π/2 to 33 bits: k·hi is exact for small k
  const double kHalfPiLo = 6.077100506506192e-11;  // π/2 − hi
  const double kTwoOverPi = 0.6366197723675814;
  const double k = floor(a * kTwoOverPi + 0.5);
  const double r = (a - k * kHalfPiHi) - k * kHalfPiLo;
  const double r2 = r * r;
  double ps = -1.0 / 355687428096000.0;  // sin: r + r·r²·(−1/3! + r²(1/5! − ...)), to r^17
  ps = ps * r2 + 1.0 / 1307674368000.0;
  ps = ps * r2 - 1.0 / 6227020800.0;
  ps = ps * r2 + 1.0 / 39916800.0;
  ps = ps * r2 - 1.0 / 362880.0;
  ps = ps * r2 + 1.0 / 5040.0;
  ps = ps * r2 - 1.0 / 120.0;
  ps = ps * r2 + 1.0 / 6.0;
  const double s = r - (r * r2) * ps;
  double pc = 1.0 / 20922789888000.0;  // cos: 1 − r²/2 + r⁴(1/4! − r²(...)), to r^16
  pc = pc * r2 - 1.0 / 87178291200.0;
  pc = pc * r2 + 1.0 / 479001600.0;
  pc = pc * r2 - 1.0 / 3628800.0;
  pc = pc * r2 + 1.0 / 40320.0;
  pc = pc * r2 - 1.0 / 720.0;
  pc = pc * r2 + 1.0 / 24.0;
  const double c = (1.0 - 0.5 * r2) + (r2 * r2) * pc;
  const int64_t quadrant = ((static_cast<int64_t>(k) % 4) + 4) % 4;
  *sine = quadrant == 0 ? s : quadrant == 1 ? c : quadrant == 2 ? -s : -c;
  *cosine = quadrant == 0 ? c : quadrant == 1 ? -s : quadrant == 2 ? -c : s;
}

// low + (high − low)·u: a uniform draw in [low, high) from u in [0, 1).
AXONAL_HD double augment_between(double low, double high, double u) { return low + (high - low) * u; }

// The matrix of a linear map L applied about the image centre (cr, cc) = ((H − 1)/2, (W − 1)/2).
AXONAL_HD void about_centre(double* m, double l00, double l01, double l10, double l11, double cr, double cc) {
  m[0] = l00, m[1] = l01, m[2] = cr - (l00 * cr + l01 * cc);
  m[3] = l10, m[4] = l11, m[5] = cc - (l10 * cr + l11 * cc);
}

// The parameters of image n (docs/design.md, "Randomness"): Philox block n of (seed, layer_id, step),
// u0 and u1 its first two words as uniform24 floats; ranges = (low0, high0, low1, high1).
AXONAL_HD void augment_draw_image(double* m, AugmentKind kind, const double* ranges, int64_t height, int64_t width,
                                  uint32_t seed, uint32_t layer_id, uint64_t step, uint64_t n) {
  const Philox4 words = dropout_block(n, seed, layer_id, step);
  const double u0 = static_cast<double>(uniform24(words.v[0])), u1 = static_cast<double>(uniform24(words.v[1]));
  const double cr = static_cast<double>(height - 1) / 2.0, cc = static_cast<double>(width - 1) / 2.0;
  for (int k = 0; k < kAugmentParams; ++k) m[k] = 0.0;
  switch (kind) {
    case AugmentKind::flip_horizontal:
    case AugmentKind::flip_vertical:
    case AugmentKind::flip_both: {
      const bool flip = u0 <= 0.5;  // Keras 3: one draw per image, uniform <= 0.5 flips
      const bool rows = flip && kind != AugmentKind::flip_horizontal;
      const bool columns = flip && kind != AugmentKind::flip_vertical;
      m[0] = rows ? -1.0 : 1.0, m[2] = rows ? static_cast<double>(height - 1) : 0.0;
      m[4] = columns ? -1.0 : 1.0, m[5] = columns ? static_cast<double>(width - 1) : 0.0;
      break;
    }
    case AugmentKind::translation:  // a shift s reads pixel i − s
      m[0] = 1.0, m[2] = -(augment_between(ranges[0], ranges[1], u0) * static_cast<double>(height));
      m[4] = 1.0, m[5] = -(augment_between(ranges[2], ranges[3], u1) * static_cast<double>(width));
      break;
    case AugmentKind::rotation: {  // a fraction of a full turn
      double sine, cosine;
      augment_sin_cos(augment_between(ranges[0], ranges[1], u0) * 6.283185307179586, &sine, &cosine);
      about_centre(m, cosine, -sine, sine, cosine, cr, cc);
      break;
    }
    case AugmentKind::zoom:
    case AugmentKind::zoom_keep_aspect: {  // 1 + z times the image's size is read
      const double rows = 1.0 + augment_between(ranges[0], ranges[1], u0);
      const double columns = kind == AugmentKind::zoom ? 1.0 + augment_between(ranges[2], ranges[3], u1) : rows;
      about_centre(m, rows, 0.0, 0.0, columns, cr, cc);
      break;
    }
    case AugmentKind::contrast:  // the factor, rounded to float as the kernels use it
      m[0] = static_cast<double>(static_cast<float>(augment_between(ranges[0], ranges[1], u0)));
      break;
  }
}

// The pixel of [0, length) that index reads under `mode`; *inside is false only outside the image
// with `constant` (the fill value is read there).
AXONAL_HD int64_t augment_extend(int64_t index, int64_t length, FillMode mode, bool* inside) {
  *inside = true;
  if (index >= 0 && index < length) return index;  // most taps: no division
  switch (mode) {
    case FillMode::reflect: {  // d c b a | a b c d | d c b a
      const int64_t folded = ((index % (2 * length)) + 2 * length) % (2 * length);
      return folded < length ? folded : 2 * length - 1 - folded;
    }
    case FillMode::wrap:
      return ((index % length) + length) % length;
    case FillMode::constant:
      *inside = index >= 0 && index < length;
      return index < 0 ? 0 : index >= length ? length - 1 : index;
    case FillMode::nearest:
      break;
  }
  return index < 0 ? 0 : index >= length ? length - 1 : index;
}

// The taps of output pixel (i, j) under matrix m: up to 4 (pixel index i·W + j into the image, float
// weight), rows then columns, low then high; a constant fill's outside taps weigh 0. Returns the count.
struct AugmentTaps {
  int64_t pixel[4];
  float weight[4];
  int count;
};

AXONAL_HD AugmentTaps augment_taps(const double* m, int64_t i, int64_t j, int64_t height, int64_t width,
                                   FillMode mode, bool bilinear) {
  const double di = static_cast<double>(i), dj = static_cast<double>(j);
  // Points beyond ±2^20 (or NaN, from parameters the cuda binding cannot read to check) are pulled
  // to −2^20, outside any image: every index below stays defined. The cpu binding refuses them.
  const double kFar = 1048576.0;
  double row = (m[0] * di + m[1] * dj) + m[2];
  double column = (m[3] * di + m[4] * dj) + m[5];
  if (!(row > -kFar && row < kFar)) row = -kFar;
  if (!(column > -kFar && column < kFar)) column = -kFar;
  int64_t row_index[2], column_index[2];
  double row_weight[2], column_weight[2];
  int taps_per_axis = 1;
  if (bilinear) {
    const double low_r = floor(row), low_c = floor(column);
    row_index[0] = static_cast<int64_t>(low_r), row_index[1] = row_index[0] + 1;
    column_index[0] = static_cast<int64_t>(low_c), column_index[1] = column_index[0] + 1;
    row_weight[1] = row - low_r, row_weight[0] = 1.0 - row_weight[1];
    column_weight[1] = column - low_c, column_weight[0] = 1.0 - column_weight[1];
    taps_per_axis = 2;
  } else {  // the closest pixel: floor(s + 1/2)
    row_index[0] = static_cast<int64_t>(floor(row + 0.5)), column_index[0] = static_cast<int64_t>(floor(column + 0.5));
    row_weight[0] = column_weight[0] = 1.0;
  }
  AugmentTaps taps{};
  for (int a = 0; a < taps_per_axis; ++a) {
    bool row_inside;
    const int64_t r = augment_extend(row_index[a], height, mode, &row_inside);
    for (int b = 0; b < taps_per_axis; ++b) {
      bool column_inside;
      const int64_t c = augment_extend(column_index[b], width, mode, &column_inside);
      taps.pixel[taps.count] = r * width + c;
      taps.weight[taps.count] = row_inside && column_inside ? static_cast<float>(row_weight[a] * column_weight[b]) : 0.f;
      ++taps.count;
    }
  }
  return taps;
}

}  // namespace axonal

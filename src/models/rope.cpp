#include "models/rope.h"

#include <algorithm>
#include <cmath>

namespace dsrt {
namespace {

// YaRN (Peng et al. 2023, arXiv:2309.00071) as DeepSeek-V2/V3 use it: the dimension whose
// wavelength makes `rot` rotations over the original context.
double yarn_correction_dim(double rot, int dim, double base, int orig_ctx) {
  return dim * std::log(orig_ctx / (rot * 2 * M_PI)) / (2 * std::log(base));
}

// 0.1 * mscale * ln(factor) + 1 (YaRN's attention temperature; DeepSeek-V2 paper, App. D).
double yarn_mscale(double factor, double mscale) {
  return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

}  // namespace

RopeTable make_rope_table(const ModelConfig& c, int dim) {
  RopeTable t;
  const int half = dim / 2;
  t.inv_freq.resize(half);
  // Frequencies in float32 as in DeepSeek's and HF's reference: base^(-2i/dim).
  for (int i = 0; i < half; ++i)
    t.inv_freq[i] = 1.0f / std::pow(c.rope_theta, float(2 * i) / float(dim));
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "yarn") {
    const int orig = rs.original_max_position_embeddings;
    double low = std::floor(yarn_correction_dim(rs.beta_fast, dim, c.rope_theta, orig));
    double high = std::ceil(yarn_correction_dim(rs.beta_slow, dim, c.rope_theta, orig));
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (int i = 0; i < half; ++i) {
      // smooth = 1 keeps the original frequency (extrapolation), 0 interpolates by `factor`.
      const float ramp = float(std::clamp((i - low) / (high - low), 0.0, 1.0));
      const float smooth = 1.0f - ramp;
      t.inv_freq[i] = t.inv_freq[i] / rs.factor * (1.0f - smooth) + t.inv_freq[i] * smooth;
    }
    // HF: cos/sin scaled by mscale(factor, mscale) / mscale(factor, mscale_all_dim); the
    // softmax scale by mscale(factor, mscale_all_dim)^2 (DeepSeek's model.py: mscale^2).
    const double m_all = yarn_mscale(rs.factor, rs.mscale_all_dim);
    t.attn_factor = float(yarn_mscale(rs.factor, rs.mscale) / m_all);
    t.softmax_mscale = float(m_all * m_all);
  } else if (rs.type == "llama3") {
    // Llama 3.1 frequency-dependent scaling: long wavelengths are divided by `factor`, short
    // ones kept, with a smooth blend between low_freq_factor and high_freq_factor.
    const double orig = rs.original_max_position_embeddings;
    const double low_wl = orig / rs.low_freq_factor, high_wl = orig / rs.high_freq_factor;
    for (int i = 0; i < half; ++i) {
      const double f = t.inv_freq[i], wl = 2 * M_PI / f;
      double nf;
      if (wl < high_wl) nf = f;
      else if (wl > low_wl) nf = f / rs.factor;
      else {
        const double s = (orig / wl - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        nf = (1 - s) * f / rs.factor + s * f;
      }
      t.inv_freq[i] = float(nf);
    }
  } else if (rs.type == "linear") {
    for (auto& f : t.inv_freq) f /= rs.factor;
  }
  if (!c.rope_freq_factors.empty()) {
    // ggml's rope divides each frequency by its factor (llama.cpp's rope_freqs tensor).
    DSRT_CHECK_MSG(c.rope_freq_factors.size() == size_t(half),
                   "rope_freq_factors has " + std::to_string(c.rope_freq_factors.size()) +
                       " entries, expected " + std::to_string(half));
    for (int i = 0; i < half; ++i) t.inv_freq[i] /= c.rope_freq_factors[i];
  }
  return t;
}

}  // namespace dsrt

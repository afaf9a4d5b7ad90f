// RL against best-of-n on the same proxy: see rl_compare.hpp.
#include "align/rl_compare.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace lmlab::align {

namespace {
void check_curve(std::span<const double> d, std::span<const double> gain) {
  LMLAB_CHECK(!d.empty() && d.size() == gain.size(), "align: a curve needs as many gains as d values ({} vs {})", gain.size(),
              d.size());
  for (std::size_t i = 1; i < d.size(); ++i) LMLAB_CHECK(d[i] >= d[i - 1], "align: a curve's d must be ascending");
}
}  // namespace

double gain_at(std::span<const double> d, std::span<const double> gain, double at) {
  check_curve(d, gain);
  if (at <= d.front()) return gain.front();
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (at > d[i]) continue;
    const double w = d[i] > d[i - 1] ? (at - d[i - 1]) / (d[i] - d[i - 1]) : 1.0;
    return gain[i - 1] + w * (gain[i] - gain[i - 1]);
  }
  return gain.back();
}

double d_reaching(std::span<const double> d, std::span<const double> gain, double target) {
  check_curve(d, gain);
  if (target <= gain.front()) return d.front();
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (gain[i] < target) continue;
    const double w = (target - gain[i - 1]) / (gain[i] - gain[i - 1]);  // gain[i-1] < target <= gain[i]
    return d[i - 1] + w * (d[i] - d[i - 1]);
  }
  return -1;
}

rl_bon_comparison compare_rl_bon(std::span<const double> rl_d, std::span<const double> rl_gain,
                                 std::span<const double> bon_d, std::span<const double> bon_gain) {
  LMLAB_CHECK(!rl_d.empty() && rl_d.size() == rl_gain.size(), "align: RL curve: {} d values, {} gains", rl_d.size(),
              rl_gain.size());
  rl_bon_comparison c;
  const auto pk = static_cast<std::size_t>(std::max_element(rl_gain.begin(), rl_gain.end()) - rl_gain.begin());
  c.rl_d_peak = rl_d[pk];
  c.rl_gain_peak = rl_gain[pk];
  c.bon_gain_at_peak = gain_at(bon_d, bon_gain, c.rl_d_peak);
  c.bon_minus_rl = c.bon_gain_at_peak - c.rl_gain_peak;
  const double dr = d_reaching(bon_d, bon_gain, c.rl_gain_peak);
  c.bon_kl_same_gain = dr < 0 ? -1 : dr * dr;
  return c;
}

}  // namespace lmlab::align

// VCD: contrasted logits against a direct computation of Leng et al. 2024 eq. 3-5 (softmax
// probabilities computed explicitly), and the diffusion distortion's schedule.
#include <gtest/gtest.h>

#include <cmath>

#include "vlm/vcd.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

TEST(vlm_vcd, logits_match_a_direct_computation) {
  const std::vector<double> l = {2.0, 1.5, -1.0, 0.3, 1.9, -3.0, 0.0, 0.5};
  const std::vector<double> d = {1.0, 2.5, 0.0, 0.3, -1.0, 0.0, 1.0, 0.4};
  const tensor lt = tensor::from<double>({2, 4}, std::span<const double>(l)), dt = tensor::from<double>({2, 4}, std::span<const double>(d));
  for (const double alpha : {0.0, 1.0, 2.5})
    for (const double beta : {0.0, 0.1, 0.5, 1.0}) {
      const std::vector<double> out = vcd_logits(lt, dt, alpha, beta).to_vector();
      for (int n = 0; n < 2; ++n) {
        double z = 0, pmax = 0;
        for (int y = 0; y < 4; ++y) z += std::exp(l[n * 4 + y]);
        for (int y = 0; y < 4; ++y) pmax = std::max(pmax, std::exp(l[n * 4 + y]) / z);
        for (int y = 0; y < 4; ++y) {
          const double p = std::exp(l[n * 4 + y]) / z;
          const double got = out[static_cast<std::size_t>(n * 4 + y)];
          if (p >= beta * pmax) EXPECT_NEAR(got, (1 + alpha) * l[n * 4 + y] - alpha * d[n * 4 + y], 1e-12);
          else EXPECT_TRUE(std::isinf(got) && got < 0) << "alpha " << alpha << " beta " << beta << " y " << y;
        }
      }
    }
}

// The contrast can flip the answer: "yes" leads under the clean image, but the distorted image
// favours it even more (a language prior), so VCD answers "no".
TEST(vlm_vcd, contrast_flips_a_prior_driven_answer_inside_the_plausible_set) {
  const tensor l = tensor::from<double>({1, 3}, {1.0, 0.8, -5.0});   // yes, no, other
  const tensor d = tensor::from<double>({1, 3}, {2.0, 0.0, 3.0});
  const std::vector<double> out = vcd_logits(l, d, 1.0, 0.1).to_vector();
  EXPECT_LT(out[0], out[1]);                 // 0 vs 1.6
  EXPECT_TRUE(std::isinf(out[2]));           // implausible under the clean image, however the distorted one ranks it
}

TEST(vlm_vcd, diffusion_schedule_and_noise) {
  EXPECT_DOUBLE_EQ(ddpm_alpha_bar(0), 1.0);
  double log_sum = 0;
  for (int s = 1; s <= 500; ++s) log_sum += std::log(1 - (1e-4 + (0.02 - 1e-4) * (s - 1) / 999.0));
  EXPECT_NEAR(ddpm_alpha_bar(500), std::exp(log_sum), 1e-12);
  EXPECT_LT(ddpm_alpha_bar(1000), 1e-4);
  EXPECT_THROW(ddpm_alpha_bar(1001), error);
  const tensor img = tensor::full({3, 8, 8}, 0.5);
  const tensor a = diffuse(img, 500, 1, 2), b = diffuse(img, 500, 1, 2), c = diffuse(img, 0, 1, 2);
  EXPECT_TRUE(compare(a, b, 0, 0).ok);
  EXPECT_TRUE(compare(c, img, 1e-7, 0).ok);
  // Mean of sqrt(abar) * 0.5 + noise: within 4 standard errors of its expectation.
  const std::vector<double> v = a.to_vector();
  double m = 0;
  for (double x : v) m += x / static_cast<double>(v.size());
  EXPECT_NEAR(m, 0.5 * std::sqrt(ddpm_alpha_bar(500)), 4 * std::sqrt((1 - ddpm_alpha_bar(500)) / static_cast<double>(v.size())));
}

}  // namespace

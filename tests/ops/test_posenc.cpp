// Positional encodings: RoPE inverse frequencies per Hugging Face rope_type (numbers from
// scripts/ref/rope_ref.py, which re-derives transformers' modeling_rope_utils.py rules),
// apply_rotary (layouts by hand, relative-position property, partial rotary, views), ALiBi
// slopes for 8 and 12 heads (Press et al.'s get_slopes), the sinusoidal table, FIRE's
// normalised distance by hand. RoPE's and FIRE's forward against a naive reference and their
// f64 gradients are op-table rows (tests/ops/test_op_table.cpp).
#include <cmath>

#include "autograd/autograd.hpp"
#include "ops/alibi.hpp"
#include "ops/rope.hpp"
#include "ops/shape.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::rope_config;
using lmlab::rope_type;
using lmlab::tensor;

namespace {
void expect_freqs(const std::vector<double>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-14 * std::abs(want[i]) + 1e-300) << what << " [" << i << "]";
}
}  // namespace

// Values printed by `python3 scripts/ref/rope_ref.py`.
TEST(rope_parameters, default_linear_dynamic_ntk_match_hf_rules) {
  rope_config c{.type = rope_type::default_rope, .theta = 10000, .dim = 8};
  expect_freqs(lmlab::rope_parameters(c).inv_freq, {1.0, 0.1, 0.01, 0.001}, "default");
  c.type = rope_type::linear;
  c.factor = 4;
  expect_freqs(lmlab::rope_parameters(c).inv_freq, {0.25, 0.025, 0.0025, 0.00025}, "linear");
  c.type = rope_type::dynamic;
  c.factor = 2;
  c.max_position_embeddings = 2048;
  expect_freqs(lmlab::rope_parameters(c, 4096).inv_freq, {1.0, 0.06933612743506347, 0.004807498567691361, 0.0003333333333333334},
               "dynamic 4096");
  expect_freqs(lmlab::rope_parameters(c, 1000).inv_freq, {1.0, 0.1, 0.01, 0.001}, "dynamic within context");
  c.type = rope_type::ntk;
  c.factor = 4;
  expect_freqs(lmlab::rope_parameters(c).inv_freq, {1.0, 0.06299605249474366, 0.003968502629920499, 0.00025}, "ntk");
  EXPECT_EQ(lmlab::rope_parameters(c).attention_factor, 1.0);
}

TEST(rope_parameters, yarn_ramp_and_temperature_match_hf_rules) {
  rope_config c{.type = rope_type::yarn, .theta = 10000, .dim = 32, .factor = 4, .max_position_embeddings = 2048};
  auto p = lmlab::rope_parameters(c);
  EXPECT_NEAR(p.attention_factor, 1.138629436111989, 1e-15);  // 0.1 ln 4 + 1
  // Ramp over dims [4, 11]: dims < 4 keep their frequency, dims > 11 are divided by 4.
  expect_freqs(p.inv_freq,
               {1.0, 0.5623413251903491, 0.31622776601683794, 0.17782794100389226, 0.1, 0.05020904689199546, 0.024846467329894407,
                0.012066895996692691, 0.005714285714285714, 0.0026108704383837637, 0.001129384878631564, 0.00044456985250973074,
                0.00025, 0.00014058533129758727, 7.905694150420948e-05, 4.445698525097307e-05},
               "yarn");
  c.mscale = 1.0;
  c.mscale_all_dim = 1.0;  // DeepSeek style: equal mscales cancel
  EXPECT_EQ(lmlab::rope_parameters(c).attention_factor, 1.0);
  c.attention_factor = 0.5;
  EXPECT_EQ(lmlab::rope_parameters(c).attention_factor, 0.5);
}

TEST(rope_parameters, llama3_matches_hf_rules) {
  rope_config c{.type = rope_type::llama3, .theta = 500000, .dim = 32, .factor = 8, .original_max_position_embeddings = 8192};
  expect_freqs(lmlab::rope_parameters(c).inv_freq,
               {1.0, 0.44036660267178046, 0.19392274474868576, 0.08539710028576561, 0.03760603093086393, 0.016560440080994446,
                0.0072926647372171085, 0.0032114459947525913, 0.0005248461609929547, 7.78465527393245e-05, 3.428102195952591e-05,
                1.509621717643313e-05, 6.647869871181236e-06, 2.9274998701761677e-06, 1.2891731721515574e-06, 5.677088100759837e-07},
               "llama3");
  c.original_max_position_embeddings = 0;
  try {
    lmlab::rope_parameters(c);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "rope_scaling.original_max_position_embeddings: required for rope_type 'llama3'");
    EXPECT_EQ(e.hint(), "Llama 3.1 uses 8192");
  }
}

TEST(rope_parameters, parse_names) {
  EXPECT_EQ(lmlab::parse_rope_type("yarn"), rope_type::yarn);
  EXPECT_STREQ(lmlab::rope_type_name(lmlab::parse_rope_type("default")), "default");
  try {
    lmlab::parse_rope_type("longrope");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "rope_scaling.rope_type: unknown value 'longrope'");
  }
}

TEST(apply_rotary, half_split_and_interleaved_by_hand) {
  // One head, D = 4, position 1, inv_freq (1, 0.01): angles 1 and 0.01.
  rope_config c{.theta = 10000, .dim = 4};
  auto cache = lmlab::rope_build_cache(lmlab::rope_parameters(c), 2);
  tensor x = tensor::from<double>({1, 1, 2, 4}, {1, 2, 3, 4, 1, 2, 3, 4});
  tensor y = lmlab::apply_rotary(x, cache);
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
  // HF: y = x cos + rotate_half(x) sin, rotate_half(1,2,3,4) = (-3,-4,1,2); pairs (0,2) and (1,3).
  EXPECT_EQ(y.narrow_raw(2, 0, 1).to_vector(), (std::vector<double>{1, 2, 3, 4}));  // position 0
  const std::vector<double> want{1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2};
  const auto got = y.narrow_raw(2, 1, 1).to_vector();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[static_cast<std::size_t>(i)], want[static_cast<std::size_t>(i)], 1e-15);
  // Interleaved: pairs (0,1) and (2,3).
  tensor yi = lmlab::apply_rotary(x, cache, 0, lmlab::rotary_layout::interleaved);
  const std::vector<double> wi{1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2};
  const auto gi = yi.narrow_raw(2, 1, 1).to_vector();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(gi[static_cast<std::size_t>(i)], wi[static_cast<std::size_t>(i)], 1e-15);
}

TEST(apply_rotary, scores_depend_only_on_relative_position) {
  for (auto layout : {lmlab::rotary_layout::half_split, lmlab::rotary_layout::interleaved}) {
    rope_config c{.theta = 10000, .dim = 8};
    auto cache = lmlab::rope_build_cache(lmlab::rope_parameters(c), 64);
    tensor q = uniform({1, 1, 1, 10}, -1, 1, 1), k = uniform({1, 1, 1, 10}, -1, 1, 2);
    auto dot_at = [&](std::int64_t m, std::int64_t n) {
      const auto a = lmlab::apply_rotary(q, cache, m, layout).to_vector(), b = lmlab::apply_rotary(k, cache, n, layout).to_vector();
      double s = 0;
      for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
      return s;
    };
    EXPECT_NEAR(dot_at(10, 3), dot_at(50, 43), 1e-12);
    EXPECT_NEAR(dot_at(7, 7), dot_at(0, 0), 1e-12);
  }
}

TEST(apply_rotary, partial_rotary_and_attention_factor) {
  rope_config c{.type = rope_type::yarn, .theta = 100, .dim = 4, .factor = 2, .max_position_embeddings = 16};
  const auto p = lmlab::rope_parameters(c);
  auto cache = lmlab::rope_build_cache(p, 20);
  tensor x = uniform({2, 3, 5, 6}, -1, 1, 5);
  tensor y = lmlab::apply_rotary(x, cache, 3);
  // Features 4, 5 pass through; position 0 scales by the attention factor only.
  EXPECT_EQ(y.at({1, 2, 4, 5}), x.at({1, 2, 4, 5}));
  tensor y0 = lmlab::apply_rotary(x, cache, 0);
  EXPECT_NEAR(y0.at({0, 0, 0, 1}), x.at({0, 0, 0, 1}) * p.attention_factor, 1e-15);
  EXPECT_THROW(lmlab::apply_rotary(x, cache, 16), lmlab::error);  // 16 + 5 > 20 positions
}

TEST(apply_rotary, a_cache_of_a_position_range_rotates_like_the_full_cache) {
  // Generation builds only the rows it needs (positions [first, n_pos)), not the whole table.
  rope_config c{.theta = 10000, .dim = 8};
  const auto p = lmlab::rope_parameters(c);
  const auto full = lmlab::rope_build_cache(p, 40), part = lmlab::rope_build_cache(p, 40, 33);
  EXPECT_EQ(part.cos.size(), 7u * 4u);
  tensor x = uniform({2, 2, 3, 8}, -1, 1, 9);
  for (auto layout : {lmlab::rotary_layout::half_split, lmlab::rotary_layout::interleaved}) {
    const auto a = lmlab::apply_rotary(x, full, 35, layout).to_vector(), b = lmlab::apply_rotary(x, part, 35, layout).to_vector();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  }
  EXPECT_THROW(lmlab::apply_rotary(x, part, 32), lmlab::error);  // position 32 is before the range
  EXPECT_THROW(lmlab::rope_build_cache(p, 4, 5), lmlab::error);
}

TEST(sinusoidal_table, vaswani_values) {
  tensor pe = lmlab::sinusoidal_table(3, 4, 10000.0, dtype::f64);
  EXPECT_EQ(pe.at({0, 0}), 0.0);
  EXPECT_EQ(pe.at({0, 1}), 1.0);
  EXPECT_NEAR(pe.at({2, 0}), std::sin(2.0), 1e-15);
  EXPECT_NEAR(pe.at({2, 3}), std::cos(2.0 / 100.0), 1e-15);  // 10000^(2/4) = 100
}

// Press et al. 2022, get_slopes: 8 heads -> 2^-1 ... 2^-8; 12 heads -> the 8 slopes, then every
// other slope of the 16-head sequence (2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5).
TEST(alibi, slopes_for_8_and_12_heads) {
  const auto s8 = lmlab::alibi_slopes(8);
  EXPECT_EQ(s8, (std::vector<double>{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}));
  const auto s12 = lmlab::alibi_slopes(12);
  const std::vector<double> want{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.7071067811865476,
                                 0.35355339059327384, 0.17677669529663695, 0.08838834764831849};
  ASSERT_EQ(s12.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i) EXPECT_NEAR(s12[i], want[i], 1e-16) << i;
  EXPECT_EQ(lmlab::alibi_slopes(1), (std::vector<double>{std::pow(2.0, -8.0)}));
  EXPECT_EQ(lmlab::alibi_slopes_tensor(8).shape(), (lmlab::shape_t{8}));
}

TEST(fire, normalised_distance_by_hand) {
  // c = 1, L = 2.5: row i = 3 (max(L, 3) = 3): out[3, 0] = log(4)/log(4) = 1, out[3, 2] = log(2)/log(4) = 0.5.
  // Row 1 (thresholded by L): out[1, 0] = log 2 / log 3.5.
  tensor c = tensor::full({}, 1.0, dtype::f64), L = tensor::full({}, 2.5, dtype::f64);
  tensor d = lmlab::fire_distance(c, L, 4);
  EXPECT_NEAR(d.at({3, 0}), 1.0, 1e-15);
  EXPECT_NEAR(d.at({3, 2}), 0.5, 1e-15);
  EXPECT_NEAR(d.at({1, 0}), std::log(2.0) / std::log(3.5), 1e-15);
  EXPECT_EQ(d.at({1, 1}), 0.0);
  EXPECT_EQ(d.at({1, 2}), 0.0);  // future positions
  // Decoding offset: query rows are the last T positions.
  tensor inc = lmlab::fire_distance(c, L, 1, 3);
  EXPECT_EQ(inc.to_vector(), d.narrow_raw(0, 3, 1).to_vector());
  EXPECT_THROW(lmlab::fire_distance(tensor::full({}, -1.0, dtype::f64), L, 3), lmlab::error);
}

TEST(apply_rotary, reads_transposed_views_in_place_with_the_same_result) {
  // The attention mixer hands q and k over as (B, H, T, D) views of (B, T, H, D) projections.
  rope_config c{.theta = 10000, .dim = 6};
  const auto cache = lmlab::rope_build_cache(lmlab::rope_parameters(c), 12);
  tensor base = uniform({2, 5, 3, 8}, -1, 1, 11);  // (B, T, H, D)
  tensor view = lmlab::transpose(base, 1, 2);      // (B, H, T, D), not contiguous
  for (auto layout : {lmlab::rotary_layout::half_split, lmlab::rotary_layout::interleaved}) {
    const auto a = lmlab::apply_rotary(view, cache, 4, layout).to_vector();
    const auto b = lmlab::apply_rotary(view.contiguous_raw(), cache, 4, layout).to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  }
}

// Op behaviour that does not fit the op table: GEMM against its naive reference on strided and
// transposed operands, dropout determinism across thread counts and its keep-rate,
// cross-entropy with every target ignored, attention's pattern output and its agreement with
// the composed reference (forward and gradients), and pinned error messages.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"
#include "../error_of.hpp"

namespace lmlab {
namespace {

tensor randn(const shape_t& s, std::uint64_t seed, dtype t = dtype::f32) {
  rng g(seed);
  std::vector<double> v(static_cast<std::size_t>(numel_of(s)));
  for (auto& x : v) x = g.normal();
  return tensor::from<double>(s, std::span<const double>(v)).to_raw(t);
}

using lmlab::testing::error_of;

TEST(gemm, matches_reference_for_all_transposes_and_strides) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const std::int64_t M = 13, N = 9, K = 11, lda = 20, ldb = 17, ldc = 12;
      tensor A = randn({20, 20}, 1), B = randn({20, 17}, 2), C = randn({M, ldc}, 3);
      tensor C2 = C.clone_raw();
      gemm(ta, tb, M, N, K, 0.5f, A.data<float>(), lda, B.data<float>(), ldb, 0.25f, C.data<float>(), ldc);
      gemm_reference<float>(ta, tb, M, N, K, 0.5f, A.data<float>(), lda, B.data<float>(), ldb, 0.25f, C2.data<float>(), ldc);
      auto r = compare(C, C2, 1e-5, 1e-5);
      EXPECT_TRUE(r.ok) << "ta=" << ta << " tb=" << tb << " worst " << r.worst_a << " vs " << r.worst_b;
    }
}

TEST(gemm, k_zero_scales_c) {
  std::vector<float> c{1, 2, 3, 4};
  gemm(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 1, 0.5f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
}

TEST(gemm, blas_name_is_the_configured_one) {
  const std::string name = blas_name();
  EXPECT_TRUE(name == "openblas" || name == "openblas-openmp" || name == "blis" || name == "onednn") << name;
}

TEST(dropout, same_mask_for_one_and_two_threads) {
  tensor x = tensor::ones({300, 257});
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  tensor a = dropout(x, 0.3, true, 1234, 77);
  omp_set_num_threads(2);
  tensor b = dropout(x, 0.3, true, 1234, 77);
  omp_set_num_threads(before);
  EXPECT_EQ(a.values<float>(), b.values<float>());
  // A different seed or offset gives a different mask; the offset shifts the stream.
  tensor c = dropout(x, 0.3, true, 1235, 77);
  EXPECT_NE(a.values<float>(), c.values<float>());
  tensor d = dropout(tensor::ones({10}), 0.3, true, 1234, 78);
  auto av = a.values<float>();
  auto dv = d.values<float>();
  for (int i = 0; i < 9; ++i) EXPECT_EQ(dv[static_cast<std::size_t>(i)], av[static_cast<std::size_t>(i + 1)]) << i;
}

TEST(dropout, keep_rate_and_scale) {
  const double p = 0.25;
  tensor y = dropout(tensor::ones({1000, 1000}), p, true, 7);
  auto v = y.values<float>();
  std::int64_t kept = 0;
  for (float f : v) {
    if (f != 0) {
      ++kept;
      EXPECT_FLOAT_EQ(f, static_cast<float>(1 / (1 - p)));
    }
  }
  // 1e6 Bernoulli(0.75) draws: standard deviation of the rate is 4.3e-4; allow 5 sigma.
  EXPECT_NEAR(static_cast<double>(kept) / 1e6, 1 - p, 5 * std::sqrt(p * (1 - p) / 1e6));
}

TEST(dropout, backward_reuses_the_mask_and_eval_is_identity) {
  tensor x = randn({64, 33}, 5, dtype::f64);
  x.set_requires_grad(true);
  tensor y = dropout(x, 0.5, true, 42);
  backward(sum(y));
  auto yv = y.to_vector(), xv = x.to_vector(), gv = x.grad().to_vector();
  for (std::size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(gv[i], yv[i] == 0 ? 0.0 : 2.0) << i;
  tensor z = dropout(x, 0.5, false, 42);
  EXPECT_TRUE(z.same_storage(x));
  EXPECT_EQ(error_of([&] { dropout(x, 1.0, true, 1); }), "dropout: p must be in [0, 1), got 1");
}

TEST(cross_entropy, all_targets_ignored_is_nan_with_zero_gradient) {
  tensor logits = randn({3, 4}, 9);
  logits.set_requires_grad(true);
  tensor tg = tensor::from<std::int32_t>({3}, {-100, -100, -100});
  tensor loss = cross_entropy(logits, tg);
  EXPECT_TRUE(std::isnan(loss.item()));
  backward(loss);
  for (double g : logits.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(cross_entropy, custom_ignore_index_and_known_value) {
  // Uniform logits over 4 classes: loss = log 4 for every counted row.
  tensor logits = tensor::zeros({3, 4}, dtype::f64);
  tensor tg = tensor::from<std::int32_t>({3}, {0, 3, 2});
  EXPECT_NEAR(cross_entropy(logits, tg, 3).item(), std::log(4.0), 1e-15);
  EXPECT_EQ(error_of([&] { cross_entropy(logits, tensor::from<std::int32_t>({3}, {0, 4, 1})); }),
            "cross_entropy: target 4 at row 1 is out of range for 4 classes");
}

TEST(embedding, repeated_ids_accumulate_gradient) {
  tensor w = randn({4, 3}, 3, dtype::f64);
  w.set_requires_grad(true);
  tensor ids = tensor::from<std::int32_t>({5}, {2, 0, 2, 2, 1});
  backward(sum(embedding(w, ids)));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 1, 1, 1, 1, 1, 3, 3, 3, 0, 0, 0}));
}

TEST(attention, pattern_out_rows_sum_to_one_and_match_reference) {
  tensor q = randn({2, 4, 5, 8}, 1), k = randn({2, 2, 7, 8}, 2), v = randn({2, 2, 7, 8}, 3);
  tensor pat, pat_ref;
  attention_options o;
  o.window = 4;
  o.alibi_slopes = tensor::from<float>({4}, {0.5f, 0.25f, 0.125f, 0.0625f});
  o.pattern_out = &pat;
  tensor y = attention(q, k, v, o);
  o.pattern_out = &pat_ref;
  tensor yr = attention_reference(q, k, v, o);
  ASSERT_EQ(pat.shape(), (shape_t{2, 4, 5, 7}));
  EXPECT_TRUE(compare(pat, pat_ref, 1e-6, 1e-5).ok);
  EXPECT_TRUE(compare(y, yr, 1e-5, 1e-5).ok);
  auto pv = pat.to_vector();
  for (std::size_t r = 0; r < pv.size() / 7; ++r) {
    double s = 0;
    for (std::size_t j = 0; j < 7; ++j) s += pv[r * 7 + j];
    EXPECT_NEAR(s, 1.0, 1e-6) << "row " << r;
  }
  // Query 0 sits at absolute position 2 (S - T = 2) and sees keys 0..2 only.
  EXPECT_EQ(pv[3], 0.0);
  EXPECT_GT(pv[2], 0.0);
}

TEST(attention, gradients_match_composed_reference) {
  // Larger than the op table's rows: several 64 x 256 tiles, GQA, causal with S > T.
  tensor q = randn({2, 4, 130, 16}, 4, dtype::f64), k = randn({2, 2, 600, 16}, 5, dtype::f64), v = randn({2, 2, 600, 16}, 6, dtype::f64);
  std::vector<tensor> g1, g2;
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<tensor> in{q.clone_raw(), k.clone_raw(), v.clone_raw()};
    for (auto& t : in) t.set_requires_grad(true);
    tensor y = pass == 0 ? attention(in[0], in[1], in[2]) : attention_reference(in[0], in[1], in[2]);
    backward(sum(mul(y, y)));
    for (auto& t : in) (pass == 0 ? g1 : g2).push_back(t.grad());
  }
  for (int i = 0; i < 3; ++i) {
    auto r = compare(g1[static_cast<std::size_t>(i)], g2[static_cast<std::size_t>(i)], 1e-10, 1e-9);
    EXPECT_TRUE(r.ok) << "input " << i << ": " << r.worst_a << " vs " << r.worst_b;
  }
}

TEST(attention, query_without_visible_key_outputs_zero) {
  // Causal with S < T: the first T - S queries see no key.
  tensor q = randn({1, 1, 4, 2}, 1, dtype::f64), k = randn({1, 1, 2, 2}, 2, dtype::f64), v = randn({1, 1, 2, 2}, 3, dtype::f64);
  tensor y = attention(q, k, v);
  auto yv = y.to_vector();
  EXPECT_EQ(yv[0], 0.0);
  EXPECT_EQ(yv[3], 0.0);
  EXPECT_TRUE(compare(y, attention_reference(q, k, v), 1e-12, 1e-12).ok);
}

TEST(errors, messages_are_pinned) {
  tensor a = tensor::zeros({2, 3}), b = tensor::zeros({4, 5});
  EXPECT_EQ(error_of([&] { matmul(a, b); }), "matmul: inner dims differ: a [2, 3] has K = 3, b [4, 5] has K = 4");
  EXPECT_EQ(error_of([&] { linear(a, b); }), "linear: inner dims differ: x [2, 3] has in = 3, w [4, 5] has in = 5");
  EXPECT_EQ(error_of([&] { embedding(b, tensor::from<std::int32_t>({3}, {0, 3, 7})); }),
            "embedding: id 7 at position 2 is out of range for a vocabulary of 4");
  EXPECT_EQ(error_of([&] { add(a, b); }), "add: shapes [2, 3] and [4, 5] do not broadcast (dim 0: 2 vs 4)");
  EXPECT_EQ(error_of([&] { add(a, tensor::zeros({2, 3}, dtype::f64)); }), "add: dtypes differ: f32 vs f64");
  EXPECT_EQ(error_of([&] { attention(tensor::zeros({1, 3, 2, 4}), tensor::zeros({1, 2, 2, 4}), tensor::zeros({1, 2, 2, 4})); }),
            "attention: query heads 3 are not a multiple of key/value heads 2");
  EXPECT_EQ(error_of([&] { softmax(a, 2); }), "softmax: dim 2 out of range for a tensor of 2 dims");
  EXPECT_EQ(error_of([&] { layer_norm(a, tensor::zeros({4}), {}); }), "layer_norm: weight must be (3) for input [2, 3], got [4]");
  EXPECT_EQ(error_of([&] { exp(tensor::from<std::int32_t>({1}, {1})); }), "exp: expected a floating tensor (f32 or f64), got i32");
  try {
    matmul(a, b);
  } catch (const error& e) {
    EXPECT_EQ(e.hint(), "a is (..., M, K) and b is (K, N) or (..., K, N)");
  }
}

TEST(reshape, splitting_a_strided_last_dim_is_a_view) {
  // (B, T, 3C) -> narrow to the k part (B, T, C) -> (B, T, H, D): no copy, as PyTorch's view.
  tensor qkv = randn({2, 5, 12}, 3);
  tensor k = narrow(qkv, 2, 4, 4);
  tensor kh = reshape(k, {2, 5, 2, 2});
  EXPECT_TRUE(kh.same_storage(qkv));
  EXPECT_EQ(kh.strides(), (shape_t{60, 12, 2, 1}));
  EXPECT_EQ(kh.at({1, 3, 1, 0}), qkv.at({1, 3, 6}));
  // Merging dims that are not adjacent in memory has to copy.
  tensor t = reshape(transpose(qkv, 1, 2), {2, 60});
  EXPECT_FALSE(t.same_storage(qkv));
  EXPECT_EQ(t.at({1, 13}), qkv.at({1, 3, 2}));  // t[1, 13] = transposed[1, 2, 3]
}

TEST(threads, set_num_threads_sets_openmp) {
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_EQ(num_threads(), before);
}

}  // namespace
}  // namespace lmlab

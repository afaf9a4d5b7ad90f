// The VLM's differentiable pieces, as op-table rows (shared/STYLE.md "Examples" 1-2): each
// projector's output shape and its gradients (input and every weight) against central finite
// differences in f64; patchify, grid pooling and pixel shuffle against naive index loops; the
// CLIP loss against PyTorch (tests/vlm/fixtures/clip_loss.json, scripts/ref/vlm_fixtures.py)
// and against finite differences.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"
#include "vlm/model.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

tensor randn(const shape_t& s, std::uint64_t seed, double scale = 1.0) {
  rng g(seed);
  std::vector<double> v(static_cast<std::size_t>(numel_of(s)));
  for (auto& x : v) x = scale * g.normal();
  return tensor::from<double>(s, std::span<const double>(v));
}

struct proj_row {
  std::string name;
  projector_spec spec;
  shape_t out;  // for B = 2
};

std::vector<proj_row> proj_table() {
  // A 4x4 patch grid of width 6, projected to width 5.
  const auto spec = [](projector_kind k, std::int64_t tokens) {
    projector_spec s;
    s.kind = k;
    s.d_in = 6;
    s.d_out = 5;
    s.grid = 4;
    s.tokens = tokens;
    s.heads = 2;
    s.d_hidden = 7;
    return s;
  };
  return {
      {"linear_16", spec(projector_kind::linear, 16), {2, 16, 5}},
      {"linear_pool_4", spec(projector_kind::linear, 4), {2, 4, 5}},
      {"mlp_16", spec(projector_kind::mlp, 16), {2, 16, 5}},
      {"mlp_pool_1", spec(projector_kind::mlp, 1), {2, 1, 5}},
      {"resampler_3", spec(projector_kind::resampler, 3), {2, 3, 5}},
      {"resampler_1", spec(projector_kind::resampler, 1), {2, 1, 5}},
      {"pixel_shuffle_4", spec(projector_kind::pixel_shuffle, 4), {2, 4, 5}},
      {"pixel_shuffle_1", spec(projector_kind::pixel_shuffle, 1), {2, 1, 5}},
  };
}

TEST(vlm_projector, rows_shapes_and_gradients_against_finite_differences) {
  for (const auto& row : proj_table()) {
    SCOPED_TRACE(row.name);
    std::vector<tensor> in = {randn({2, 16, 6}, 1)};
    std::uint64_t seed = 2;
    for (const auto& [name, shape] : projector_param_shapes(row.spec)) in.push_back(randn(shape, seed++, 0.5));
    const auto f = [&](const std::vector<tensor>& x) {
      return project(row.spec, std::vector<tensor>(x.begin() + 1, x.end()), x[0]);
    };
    EXPECT_EQ(f(in).shape(), row.out);
    gradcheck_options o;
    o.atol = o.rtol = 1e-6;
    const auto r = gradcheck(f, in, o);
    EXPECT_TRUE(r.ok) << r.report;
    // f32 forward agrees with f64.
    std::vector<tensor> in32;
    for (const auto& t : in) in32.push_back(t.to_raw(dtype::f32));
    const auto c = compare(f(in32).to_raw(dtype::f64), f(in), 1e-5, 1e-5);
    EXPECT_TRUE(c.ok) << "worst " << c.worst_a << " vs " << c.worst_b;
  }
}

TEST(vlm_projector, module_registers_named_weights_and_rejects_bad_token_counts) {
  projector_spec s;
  s.kind = projector_kind::pixel_shuffle;
  s.d_in = 8;
  s.d_out = 4;
  s.grid = 4;
  s.tokens = 4;
  projector p(s, 1);
  p.finalize_names();
  EXPECT_EQ(p.named_parameters()[0].first, "fc1.weight");
  EXPECT_EQ(p.parameter("fc1.weight").shape(), (shape_t{4, 32}));  // r = 2: 4 patches of 8
  EXPECT_EQ(p.forward(tensor::zeros({3, 16, 8})).shape(), (shape_t{3, 4, 4}));
  s.tokens = 8;  // not a square
  try {
    s.validate("task");
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("task: image_tokens: 8 tokens"), std::string::npos) << e.what();
  }
  s.kind = projector_kind::resampler;
  EXPECT_NO_THROW(s.validate("task"));  // any number of queries
}

// Naive index loops for the rearrangements.
TEST(vlm_projector, patchify_pool_and_shuffle_match_index_loops) {
  const tensor img = randn({2, 3, 8, 8}, 5);
  const tensor p = patchify(img, 4);  // (2, 4, 48)
  ASSERT_EQ(p.shape(), (shape_t{2, 4, 48}));
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t gy = 0; gy < 2; ++gy)
      for (std::int64_t gx = 0; gx < 2; ++gx)
        for (std::int64_t c = 0; c < 3; ++c)
          for (std::int64_t y = 0; y < 4; ++y)
            for (std::int64_t x = 0; x < 4; ++x)
              ASSERT_EQ(p.at({b, gy * 2 + gx, (c * 4 + y) * 4 + x}), img.at({b, c, gy * 4 + y, gx * 4 + x}));
  const tensor x = randn({1, 16, 3}, 6);  // 4x4 grid
  const tensor pooled = grid_pool(x, 4, 2), shuf = pixel_shuffle(x, 4, 2);
  for (std::int64_t hy = 0; hy < 2; ++hy)
    for (std::int64_t hx = 0; hx < 2; ++hx)
      for (std::int64_t d = 0; d < 3; ++d) {
        double m = 0;
        for (std::int64_t ry = 0; ry < 2; ++ry)
          for (std::int64_t rx = 0; rx < 2; ++rx) {
            const double v = x.at({0, (hy * 2 + ry) * 4 + hx * 2 + rx, d});
            m += v / 4;
            EXPECT_EQ(shuf.at({0, hy * 2 + hx, (ry * 2 + rx) * 3 + d}), v);
          }
        EXPECT_NEAR(pooled.at({0, hy * 2 + hx, d}), m, 1e-14);
      }
}

// ---- CLIP ---------------------------------------------------------------------------------

tensor vec(const nlohmann::json& j, shape_t s) { return tensor::from<double>(s, std::span<const double>(j.get<std::vector<double>>())); }

TEST(vlm_clip, loss_and_gradients_match_pytorch) {
  std::ifstream f("tests/vlm/fixtures/clip_loss.json");
  ASSERT_TRUE(f.good()) << "run from the repository root";
  const auto doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc["cases"].size(), 2u);
  for (const auto& c : doc["cases"]) {
    const std::int64_t n = c["n"], d = c["d"];
    for (const dtype t : {dtype::f64, dtype::f32}) {
      const double tol = t == dtype::f64 ? 1e-12 : 2e-5;
      tensor img = vec(c["img"], {n, d}).to_raw(t), txt = vec(c["txt"], {n, d}).to_raw(t);
      tensor ls = tensor::full({}, c["log_scale"].get<double>(), t);
      for (tensor* x : {&img, &txt, &ls}) x->set_requires_grad(true);
      const tensor loss = clip_loss(img, txt, ls);
      backward(loss);
      EXPECT_NEAR(loss.item(), c["loss"].get<double>(), tol * (1 + std::abs(c["loss"].get<double>())));
      const auto cmp = [&](const tensor& got, const tensor& want, const char* what) {
        const auto r = compare(got.to_raw(dtype::f64), want, tol, tol);
        EXPECT_TRUE(r.ok) << what << " (" << dtype_name(t) << "): worst element " << r.worst_index << ": " << r.worst_a << " vs "
                          << r.worst_b;
      };
      cmp(img.grad(), vec(c["grad_img"], {n, d}), "grad img");
      cmp(txt.grad(), vec(c["grad_txt"], {n, d}), "grad txt");
      cmp(ls.grad(), tensor::full({}, c["grad_log_scale"].get<double>(), dtype::f64), "grad log_scale");
    }
  }
}

TEST(vlm_clip, gradients_against_finite_differences_and_a_perfect_match_is_cheap) {
  const auto f = [](const std::vector<tensor>& x) { return clip_loss(x[0], x[1], x[2]); };
  const auto r = gradcheck(f, {randn({5, 4}, 7), randn({5, 4}, 8), tensor::full({}, 1.5, dtype::f64)});
  EXPECT_TRUE(r.ok) << r.report;
  // Identical, well-separated pairs at a high scale: the loss tends to 0; mismatched pairs cost more.
  const tensor e = tensor::from<double>({3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  const tensor ls = tensor::full({}, std::log(100.0), dtype::f64);
  EXPECT_LT(clip_loss(e, e, ls).item(), 1e-30 + 1e-40 + 2 * std::exp(-99.0));
  const tensor shuffled = tensor::from<double>({3, 3}, {0, 1, 0, 0, 0, 1, 1, 0, 0});
  EXPECT_GT(clip_loss(e, shuffled, ls).item(), 50.0);
}

}  // namespace

namespace {

// The whole model with each projector: logits cover image tokens + text, and a loss on the text
// positions reaches the projector, the LM and (through the patches) the ViT.
TEST(vlm_model, every_projector_feeds_the_lm_and_gradients_reach_all_parts) {
  for (const char* kind : {"linear", "mlp", "resampler", "pixel_shuffle"}) {
    SCOPED_TRACE(kind);
    vlm_config c;
    c.canvas = 8;
    c.vision = {2, 8, 1, 2, 16};  // 4x4 patch grid of width 8
    c.proj.kind = projector_from_name(kind, "test");
    c.proj.tokens = 4;
    c.lm = lmlab::testing::small_lm(11, 8, 1, 2, 8);
    c.d_clip = 8;
    vlm_model m(c, 1);
    const tensor img = randn({2, 3, 8, 8}, 3).to_raw(dtype::f32);
    const tensor ids = tensor::from<std::int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
    const tensor logits = m.logits(m.vision.forward(img), ids);
    ASSERT_EQ(logits.shape(), (shape_t{2, 7, 11}));
    const tensor text = narrow(logits, 1, 4, 3);  // text positions only
    backward(sum(mul(text, text.detach())));
    for (const char* p : {"proj.", "lm.wte.weight", "vision.patch_embed.weight"}) {
      double g = 0;
      for (const auto& [name, t] : m.named_parameters())
        if (name.rfind(p, 0) == 0 && t.grad().defined())
          for (const double v : t.grad().to_vector()) g += std::abs(v);
      EXPECT_GT(g, 0.0) << p;
    }
  }
}

}  // namespace

// Hooks on GPT: run_with_cache returns every hook point with its TransformerLens shape;
// patching an activation with its own cached value changes nothing; ablating a head does.
#include <gtest/gtest.h>

#include "hooks/hooks.hpp"

#include "models/lm.hpp"

#include "autograd/autograd.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;

namespace {

models::lm_config tiny() { return lmlab::testing::small_lm(13, 16, 2, 4, 8); }

tensor ids_of(std::int64_t B, std::int64_t T) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(B * T));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>((i * 5 + 1) % 13);
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

}  // namespace

TEST(hooks, run_with_cache_has_every_hook_with_its_shape) {
  models::lm m(tiny(), 1);
  auto [logits, cache] = hooks::run_with_cache(m, ids_of(2, 6));
  EXPECT_EQ(logits.shape(), (shape_t{2, 6, 13}));
  EXPECT_EQ(cache.size(), 2u + 2 * 12);
  EXPECT_EQ(cache.at("hook_embed").shape(), (shape_t{2, 6, 16}));
  EXPECT_EQ(cache.at("blocks.1.hook_resid_pre").shape(), (shape_t{2, 6, 16}));
  EXPECT_EQ(cache.at("blocks.1.hook_resid_post").shape(), (shape_t{2, 6, 16}));
  EXPECT_EQ(cache.at("blocks.0.attn.hook_q").shape(), (shape_t{2, 6, 4, 4}));
  EXPECT_EQ(cache.at("blocks.0.attn.hook_z").shape(), (shape_t{2, 6, 4, 4}));
  EXPECT_EQ(cache.at("blocks.0.attn.hook_pattern").shape(), (shape_t{2, 4, 6, 6}));
  EXPECT_EQ(cache.at("blocks.0.mlp.hook_pre").shape(), (shape_t{2, 6, 64}));
  EXPECT_EQ(cache.at("blocks.0.mlp.hook_post").shape(), (shape_t{2, 6, 64}));
  // The pattern is causal and each row sums to 1.
  const tensor& p = cache.at("blocks.1.attn.hook_pattern");
  double row = 0;
  for (int s = 0; s < 6; ++s) row += p.at({1, 2, 3, s});
  EXPECT_NEAR(row, 1.0, 1e-5);
  EXPECT_EQ(p.at({0, 0, 2, 3}), 0.0);
  // resid_mid = resid_pre + attn_out (the residual stream adds up).
  const tensor& pre = cache.at("blocks.1.hook_resid_pre");
  const tensor& out = cache.at("blocks.1.hook_attn_out");
  const tensor& mid = cache.at("blocks.1.hook_resid_mid");
  EXPECT_NEAR(mid.at({1, 3, 5}), pre.at({1, 3, 5}) + out.at({1, 3, 5}), 1e-6);
  // A filter keeps only the names asked for; the hooks are gone afterwards.
  auto [l2, c2] = hooks::run_with_cache(m, ids_of(2, 6), hooks::names_ending_with({"hook_resid_post"}));
  EXPECT_EQ(c2.size(), 2u);
  for (auto* h : m.hook_points()) EXPECT_FALSE(h->active()) << h->name();
}

TEST(hooks, patching_resid_post_with_its_cached_value_leaves_logits_unchanged) {
  models::lm m(tiny(), 2);
  tensor ids = ids_of(2, 7);
  // Exact equality: cache only what is patched, so both runs take the fused attention path
  // (a hook on hook_pattern switches to the materialised path, equal only to ~1e-7).
  const auto keep = hooks::names_ending_with({"hook_resid_post"});
  auto [logits, cache] = hooks::run_with_cache(m, ids, keep);
  tensor patched =
      hooks::run_with_hooks(m, ids, {{"blocks.0.hook_resid_post", hooks::patch_with(cache.at("blocks.0.hook_resid_post"))}});
  EXPECT_EQ(patched.to_vector(), logits.to_vector());
  // Patching in another input's final residual makes the logits that input's.
  tensor ids2 = ids.clone_raw();
  ids2.data<std::int32_t>()[0] = 12;
  auto [l2, c2] = hooks::run_with_cache(m, ids2, keep);
  tensor cross = hooks::run_with_hooks(m, ids, {{"blocks.0.hook_resid_post", hooks::patch_with(c2.at("blocks.0.hook_resid_post"))}});
  EXPECT_EQ(cross.to_vector(), l2.to_vector());
}

TEST(hooks, zeroing_a_head_changes_the_logits_and_the_head_output) {
  models::lm m(tiny(), 3);
  tensor ids = ids_of(1, 8);
  auto [logits, cache] = hooks::run_with_cache(m, ids, hooks::names_ending_with({"hook_z"}));
  hooks::activation_cache after;
  tensor ablated;
  {
    hooks::hook_scope scope(m);
    scope.add("blocks.1.attn.hook_z", hooks::zero_head(2));
    scope.cache_into(after, hooks::names_ending_with({"blocks.1.attn.hook_z"}));
    no_grad ng;
    ablated = m.forward(ids);
  }
  EXPECT_NE(ablated.to_vector(), logits.to_vector());
  const tensor& z = after.at("blocks.1.attn.hook_z");
  EXPECT_EQ(z.at({0, 5, 2, 1}), 0.0);
  EXPECT_EQ(z.at({0, 5, 1, 1}), cache.at("blocks.1.attn.hook_z").at({0, 5, 1, 1}));
  // Unknown names and out-of-range heads are errors naming them.
  try {
    hooks::run_with_hooks(m, ids, {{"blocks.9.attn.hook_z", hooks::zero_head(0)}});
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("no hook point named 'blocks.9.attn.hook_z'"), std::string::npos);
  }
  try {
    hooks::run_with_hooks(m, ids, {{"blocks.0.attn.hook_z", hooks::zero_head(4)}});
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "blocks.0.attn.hook_z: head 4 out of range (the activation has 4 heads)");
  }
  for (auto* h : m.hook_points()) EXPECT_FALSE(h->active()) << h->name();
}

TEST(hooks, patching_the_pattern_with_its_own_value_matches_the_fused_kernel) {
  models::lm m(tiny(), 4);
  tensor ids = ids_of(2, 8);
  auto [logits, cache] = hooks::run_with_cache(m, ids, hooks::names_ending_with({"hook_pattern"}));
  tensor patched = hooks::run_with_hooks(m, ids, {{"blocks.0.attn.hook_pattern", hooks::patch_with(cache.at("blocks.0.attn.hook_pattern"))}});
  EXPECT_TRUE(compare(patched, logits, 1e-6, 1e-5).ok);
}

// interp on tiny fixed-seed models of two mixers (attention, Mamba): hook globs and close-match
// errors, caches written whole or one layer at a time (same bytes, values as the forward),
// head scores (definition checked on hand-made patterns), activation patching (clean ==
// corrupted gives no effect; patching the last residual gives the clean output exactly) and
// steering (a zero vector changes nothing).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "autograd/autograd.hpp"
#include "interp/interp.hpp"
#include "models/lm.hpp"
#include "nn/safetensors.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<models::lm> tiny(const std::string& pattern, std::uint64_t seed = 1) {
  models::lm_config c = lmlab::testing::small_lm(11, 16, 2, 2, 16);
  c.pattern = pattern;
  c.init_std = 0.2;  // logits that differ visibly between inputs
  return models::make_model(c, seed);
}

tensor ids(std::vector<std::int32_t> v, std::int64_t B = 1) {
  const auto T = static_cast<std::int64_t>(v.size()) / B;
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

class per_mixer : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(interp, globs_match_hook_names_and_unknown_names_list_close_matches) {
  EXPECT_TRUE(interp::glob_match("blocks.*.hook_resid_post", "blocks.12.hook_resid_post"));
  EXPECT_FALSE(interp::glob_match("blocks.*.hook_resid_post", "blocks.1.hook_resid_pre"));
  EXPECT_TRUE(interp::glob_match("*", ""));
  EXPECT_TRUE(interp::glob_match("a*b*c", "axxbyybc"));
  auto m = tiny("A");
  EXPECT_EQ(interp::match_hooks(*m, "blocks.*.hook_resid_post"),
            (std::vector<std::string>{"blocks.0.hook_resid_post", "blocks.1.hook_resid_post"}));
  EXPECT_EQ(interp::match_hooks(*m, "hook_embed,blocks.1.attn.hook_pattern"),
            (std::vector<std::string>{"hook_embed", "blocks.1.attn.hook_pattern"}));
  EXPECT_EQ(interp::layer_of("blocks.12.attn.hook_z"), 12);
  EXPECT_EQ(interp::layer_of("hook_embed"), -1);
  try {
    interp::match_hooks(*m, "blocks.0.hook_resid_pots");
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "interp: no hook point matches 'blocks.0.hook_resid_pots'");
    EXPECT_EQ(e.hint().rfind("close matches: blocks.0.hook_resid_post, blocks.0.hook_resid_pre", 0), 0u) << e.hint();
  }
}

TEST_P(per_mixer, cache_file_is_the_same_whole_or_layer_at_a_time_and_holds_the_activations) {
  auto m = tiny(GetParam());
  const tensor x = ids({1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 5}, 2);
  const auto names = interp::match_hooks(*m, "hook_embed,blocks.*.hook_resid_post,blocks.*.hook_attn_out");
  ASSERT_EQ(names.size(), 5u);
  const fs::path dir = fs::temp_directory_path() / ("lmlab_interp_cache_" + GetParam());
  fs::create_directories(dir);
  const auto n1 = interp::write_cache(dir / "whole.safetensors", *m, x, names, false, {{"hooks", "test"}});
  const auto n2 = interp::write_cache(dir / "layers.safetensors", *m, x, names, true, {{"hooks", "test"}});
  EXPECT_EQ(n1, n2);
  EXPECT_EQ(fs::file_size(dir / "whole.safetensors"), n1);
  EXPECT_EQ(read_bytes(dir / "whole.safetensors"), read_bytes(dir / "layers.safetensors"));
  const auto f = nn::safetensors_file::load(dir / "layers.safetensors");
  EXPECT_EQ(f.names().size(), 5u);
  EXPECT_EQ(f.metadata().at("hooks"), "test");
  const auto cache = interp::cache_activations(*m, x, names);
  for (const auto& n : names) EXPECT_EQ(f.get(n).to_vector(), cache.at(n).to_vector()) << n;
  EXPECT_EQ(f.get("blocks.1.hook_resid_post").shape(), (shape_t{2, 6, 16}));
  // No temp file is left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 2u);
  fs::remove_all(dir);
}

TEST_P(per_mixer, patching_with_equal_inputs_has_no_effect_and_the_last_residual_gives_the_clean_output) {
  auto m = tiny(GetParam(), 3);
  const tensor clean = ids({1, 2, 3, 4, 5, 6});
  const tensor corrupt = ids({1, 2, 9, 4, 5, 6});
  const std::int32_t answer = 7, wrong = 8;
  // clean == corrupted: every patched run is the corrupted run, effect 0.
  const auto same = interp::patch_positions(*m, clean, clean, answer, wrong);
  ASSERT_EQ(same.cells.size(), 2u * 6u);
  for (const auto& c : same.cells) {
    EXPECT_EQ(c.metric, same.corrupted) << c.hook << " @" << c.index;
    EXPECT_EQ(c.effect, 0.0);
  }
  // Patching the whole last residual stream gives the clean logits exactly (metric 1).
  const auto r = interp::patch_positions(*m, clean, corrupt, answer, wrong, "hook_resid_post");
  ASSERT_NE(r.clean, r.corrupted);
  const tensor patched = interp::patch_whole(*m, clean, corrupt, "blocks.1.hook_resid_post");
  tensor clean_logits;
  {
    no_grad ng;
    clean_logits = m->forward(clean);
  }
  EXPECT_EQ(patched.to_vector(), clean_logits.to_vector());
  EXPECT_EQ(interp::normalise(interp::logit_diff(patched, answer, wrong), r.clean, r.corrupted), 1.0);
  // The last position of the last layer carries everything the last logits see; positions
  // before the corruption carry nothing (causal).
  for (const auto& c : r.cells) {
    if (c.layer == 1 && c.index == 5) {
      EXPECT_EQ(c.effect, 1.0);
    }
    if (c.index < 2) {
      EXPECT_EQ(c.effect, 0.0) << c.hook << " @" << c.index;
    }
  }
}

TEST_P(per_mixer, steering_with_a_zero_vector_changes_nothing) {
  auto m = tiny(GetParam(), 4);
  const tensor x = ids({3, 1, 4, 1, 5, 9});
  const auto metric = [](const tensor& logits) { return interp::logit_diff(logits, 2, 6); };
  const auto zero = interp::steer_sweep(*m, x, "blocks.0.hook_resid_post", tensor::zeros({16}), {-4, 0, 1, 8}, metric);
  ASSERT_EQ(zero.size(), 4u);
  for (const auto& p : zero) EXPECT_EQ(p.delta, 0.0) << p.scale;
  std::vector<float> d(16, 0.0f);
  d[3] = 1.0f;
  const auto some = interp::steer_sweep(*m, x, "blocks.0.hook_resid_post", tensor::from<float>({16}, std::span<const float>(d)),
                                        {0, 4}, metric);
  EXPECT_EQ(some[0].delta, 0.0);
  EXPECT_NE(some[1].delta, 0.0);
  try {
    interp::steer_sweep(*m, x, "blocks.0.hook_resid_post", tensor::zeros({15}), {1}, metric);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "blocks.0.hook_resid_post: steering direction [15] for an activation [1, 6, 16]");
  }
}

TEST_P(per_mixer, the_logit_lens_of_the_last_layer_is_the_model_output) {
  auto m = tiny(GetParam(), 6);
  const tensor x = ids({3, 1, 4, 1, 5, 9});
  const auto lens = interp::logit_lens(*m, x);
  ASSERT_EQ(lens.size(), 2u);
  EXPECT_EQ(lens[0].first, "blocks.0.hook_resid_post");
  tensor logits;
  {
    no_grad ng;
    logits = m->forward(x);
  }
  EXPECT_EQ(lens[1].second.to_vector(), logits.to_vector());
  EXPECT_NE(lens[0].second.to_vector(), logits.to_vector());
  EXPECT_EQ(lens[0].second.shape(), logits.shape());
}

INSTANTIATE_TEST_SUITE_P(mixers, per_mixer, ::testing::Values("A", "M"));

TEST(interp, head_scores_follow_the_definition_on_hand_made_patterns) {
  // n = 3, T = 6; head 0 attends i -> i - n + 1 on the second half (and to itself before),
  // head 1 attends i -> i - 1.
  const std::int64_t n = 3, T = 6;
  tensor p = tensor::zeros({1, 2, T, T});
  float* v = p.data<float>();
  for (std::int64_t i = 0; i < T; ++i) {
    v[(0 * T + i) * T + (i >= n ? i - n + 1 : i)] = 1.0f;
    v[(1 * T + i) * T + (i >= 1 ? i - 1 : 0)] = 1.0f;
  }
  EXPECT_EQ(interp::induction_scores(p, n), (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(interp::prev_token_scores(p), (std::vector<double>{0.0, 1.0}));
  const tensor r = interp::repeated_random_tokens(2, 5, 11, 7);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(r.at({b, i}), r.at({b, i + 5}));
}

TEST(interp, head_scores_cover_every_attention_head_and_need_attention) {
  auto m = tiny("A");
  const auto s = interp::head_scores(*m, {.n = 6, .batch = 3, .seed = 1});
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[3].layer, 1);
  EXPECT_EQ(s[3].head, 1);
  for (const auto& h : s) {
    EXPECT_GT(h.induction, 0.0);
    EXPECT_LT(h.induction, 1.0);
    EXPECT_GT(h.prev_token, 0.0);
    EXPECT_LT(h.prev_token, 1.0);
  }
  auto mamba = tiny("M");
  try {
    interp::head_scores(*mamba);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "interp heads: the model has no blocks.N.attn.hook_pattern");
  }
}

TEST(interp, patching_heads_with_equal_inputs_has_no_effect) {
  auto m = tiny("A", 5);
  const tensor clean = ids({1, 2, 3, 4, 5});
  const auto r = interp::patch_heads(*m, clean, clean, 3, 4);
  ASSERT_EQ(r.cells.size(), 4u);
  for (const auto& c : r.cells) EXPECT_EQ(c.effect, 0.0);
  const auto d = interp::patch_heads(*m, clean, ids({1, 2, 7, 4, 5}), 3, 4);
  double any = 0;
  for (const auto& c : d.cells) any += std::abs(c.effect);
  EXPECT_GT(any, 0.0);
}

TEST(interp, path_patching_to_the_logits_equals_head_patching_in_the_last_layer_and_checks_its_receiver) {
  auto m = tiny("A", 5);
  const tensor clean = ids({1, 2, 3, 4, 5}), corrupt = ids({1, 2, 7, 4, 5});
  // Equal inputs: nothing to restore along any path.
  for (const char* rc : {"logits", "blocks.1.attn.hook_v"})
    for (const auto& c : interp::path_patch_heads(*m, clean, clean, 3, 4, rc).cells) EXPECT_EQ(c.effect, 0.0);
  // The last layer's heads have no head downstream to freeze: the same numbers as patch_heads.
  const auto path = interp::path_patch_heads(*m, clean, corrupt, 3, 4, "logits");
  const auto act = interp::patch_heads(*m, clean, corrupt, 3, 4);
  ASSERT_EQ(path.cells.size(), 4u);
  ASSERT_EQ(act.cells.size(), 4u);
  for (std::size_t i = 2; i < 4; ++i) {
    EXPECT_EQ(path.cells[i].layer, 1);
    EXPECT_EQ(path.cells[i].metric, act.cells[i].metric) << "head " << path.cells[i].index;
  }
  // A receiver in layer 1 takes only layer-0 senders.
  const auto v = interp::path_patch_heads(*m, clean, corrupt, 3, 4, "blocks.1.attn.hook_q");
  ASSERT_EQ(v.cells.size(), 2u);
  EXPECT_EQ(v.cells[0].layer, 0);
  EXPECT_THROW(interp::path_patch_heads(*m, clean, corrupt, 3, 4, "blocks.1.attn.hook_z"), error);
  try {
    interp::path_patch_heads(*m, clean, corrupt, 3, 4, "blocks.0.attn.hook_k");
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "interp patch: no attention layer before the receiver blocks.0.attn.hook_k");
  }
}

TEST(interp, path_patching_from_mlps_and_into_one_receiver_head) {
  auto m = tiny("A", 5);
  const tensor clean = ids({1, 2, 3, 4, 5}), corrupt = ids({1, 2, 7, 4, 5});
  interp::path_options all;
  all.mlp_senders = true;
  // Equal inputs: 0 on every path, from heads and MLPs, into the logits and each receiver (whole
  // or one head).
  for (const char* rc : {"logits", "blocks.1.attn.hook_q", "blocks.1.attn.hook_k", "blocks.1.attn.hook_v"})
    for (std::int64_t rh : {-1, 0, 1}) {
      if (std::string(rc) == "logits" && rh >= 0) continue;
      interp::path_options o = all;
      o.receiver = rc;
      o.receiver_head = rh;
      const auto r = interp::path_patch(*m, clean, clean, 3, 4, o);
      EXPECT_EQ(r.cells.size(), std::string(rc) == "logits" ? 6u : 3u) << rc;
      for (const auto& c : r.cells) EXPECT_EQ(c.effect, 0.0) << rc << " " << rh << " " << c.hook << " " << c.index;
    }
  // Senders in forward order: layer 0's heads, its MLP, layer 1's heads, its MLP.
  const auto path = interp::path_patch(*m, clean, corrupt, 3, 4, all);
  ASSERT_EQ(path.cells.size(), 6u);
  EXPECT_EQ(path.cells[2].hook, "blocks.0.hook_mlp_out");
  EXPECT_EQ(path.cells[2].index, -1);
  EXPECT_EQ(path.cells[5].hook, "blocks.1.hook_mlp_out");
  // The last layer's MLP to the logits: nothing downstream to freeze, so exactly the ordinary
  // patching of its output.
  const double whole = interp::logit_diff(interp::patch_whole(*m, clean, corrupt, "blocks.1.hook_mlp_out"), 3, 4);
  EXPECT_EQ(path.cells[5].metric, whole);
  EXPECT_NE(path.cells[5].effect, 0.0);
  // Heads-only senders give the same head cells as path_patch_heads.
  const auto heads = interp::path_patch_heads(*m, clean, corrupt, 3, 4, "logits");
  EXPECT_EQ(heads.cells[0].metric, path.cells[0].metric);
  EXPECT_EQ(heads.cells[3].metric, path.cells[4].metric);
  // MLP senders only; a receiver in layer 1 takes layer 0's MLP, not layer 1's.
  interp::path_options mlps;
  mlps.head_senders = false, mlps.mlp_senders = true, mlps.receiver = "blocks.1.attn.hook_v";
  const auto v = interp::path_patch(*m, clean, corrupt, 3, 4, mlps);
  ASSERT_EQ(v.cells.size(), 1u);
  EXPECT_EQ(v.cells[0].hook, "blocks.0.hook_mlp_out");
  // One receiver head: the two heads' effects differ, and each differs from the whole receiver.
  std::vector<double> per_head;
  for (std::int64_t rh : {0, 1}) {
    mlps.receiver_head = rh;
    per_head.push_back(interp::path_patch(*m, clean, corrupt, 3, 4, mlps).cells[0].metric);
  }
  EXPECT_NE(per_head[0], per_head[1]);
  EXPECT_NE(per_head[0], v.cells[0].metric);
  // Bad receiver heads and option mixes are errors naming them.
  mlps.receiver_head = 2;
  try {
    interp::path_patch(*m, clean, corrupt, 3, 4, mlps);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "interp patch: receiver head 2: blocks.1.attn.hook_v has 2 heads");
  }
  interp::path_options bad;
  bad.receiver_head = 0;
  EXPECT_THROW(interp::path_patch(*m, clean, corrupt, 3, 4, bad), error);  // a head of the logits
  bad = {};
  bad.head_senders = false;
  EXPECT_THROW(interp::path_patch(*m, clean, corrupt, 3, 4, bad), error);  // no senders
  mlps.receiver_head = -1, mlps.receiver = "blocks.0.attn.hook_q";
  try {
    interp::path_patch(*m, clean, corrupt, 3, 4, mlps);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "interp patch: no MLP before the receiver blocks.0.attn.hook_q");
  }
}

TEST(interp, path_patching_with_one_head_per_layer_a_receiver_head_is_the_whole_receiver) {
  models::lm_config c = lmlab::testing::small_lm(11, 16, 2, 1, 16);
  c.init_std = 0.2;
  auto m = models::make_model(c, 5);
  const tensor clean = ids({1, 2, 3, 4, 5}), corrupt = ids({1, 2, 7, 4, 5});
  interp::path_options o;
  o.mlp_senders = true, o.receiver = "blocks.1.attn.hook_k";
  const auto whole = interp::path_patch(*m, clean, corrupt, 3, 4, o);
  o.receiver_head = 0;
  const auto one = interp::path_patch(*m, clean, corrupt, 3, 4, o);
  ASSERT_EQ(whole.cells.size(), 2u);
  ASSERT_EQ(one.cells.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(one.cells[i].metric, whole.cells[i].metric) << whole.cells[i].hook;
}

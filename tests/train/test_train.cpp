// train: AdamW against a hand-computed update, the schedule, clipping, config errors,
// checkpoints (round trip, corrupt files, no partial checkpoint), resume bit-identity and
// determinism, evaluation. Data is small and synthetic.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "synthetic_tokens.hpp"
#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/tokenizer.hpp"
#include "nn/safetensors.hpp"
#include "ops/gemm.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"
#include "../error_of.hpp"
#include "../lm_test_config.hpp"
#include "../temp_path.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

using lmlab::testing::error_of;

// A one-block model: d_model 8, 2 heads.
models::lm_config tiny_model(std::int64_t vocab = 9, std::int64_t n_ctx = 4) {
  return lmlab::testing::small_lm(vocab, 8, 1, 2, n_ctx);
}

fs::path temp_dir(const std::string& name) { return lmlab::testing::fresh_dir("train", name); }

// A learnable synthetic stream: runs of (start + k * stride) mod 17.
using lmlab::test_data::synthetic_tokens;

train::train_config small_config(const fs::path& out) {
  return train::parse_train_config(R"(
[model]
vocab_size = 17
d_model = 16
n_layers = 2
n_heads = 2
n_ctx = 16
dropout = 0.1
[train]
batch_size = 4
steps = 10
lr = 1e-2
min_lr = 1e-3
warmup_steps = 3
grad_clip = 1.0
eval_every = 5
eval_batches = 2
seed = 3
threads = 1
)",
                                   "test.toml", {"train.out_dir=" + out.string()});
}

}  // namespace

TEST(adamw, one_step_matches_the_pytorch_formula) {
  tensor w = tensor::from<float>({2, 2}, {0.5f, -1.f, 2.f, 0.f});
  tensor b = tensor::from<float>({2}, {0.1f, 0.2f});
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  w.set_grad(tensor::from<float>({2, 2}, {0.1f, -0.2f, 0.3f, 0.f}));
  b.set_grad(tensor::from<float>({2}, {1.f, -1.f}));
  train::adamw opt({{"w", w}, {"b", b}}, {0.9, 0.999, 1e-8, 0.1});
  opt.step(0.01);
  // Step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected m/sqrt(v) = sign(g) (for g != 0);
  // p = p * (1 - lr*wd) - lr * g / (|g| + eps*...) -> p*(0.999) - 0.01*sign(g).
  EXPECT_NEAR(w.at({0, 0}), 0.5 * 0.999 - 0.01, 1e-6);
  EXPECT_NEAR(w.at({0, 1}), -1.0 * 0.999 + 0.01, 1e-6);
  EXPECT_NEAR(w.at({1, 1}), 0.0, 1e-12);  // zero gradient, zero weight
  EXPECT_NEAR(b.at({0}), 0.1 - 0.01, 1e-6);  // no decay on vectors
  // Step 2 with the same gradient: m/sqrt(v) stays sign(g) after bias correction.
  opt.step(0.01);
  EXPECT_NEAR(b.at({0}), 0.1 - 0.02, 1e-6);
  EXPECT_EQ(opt.steps(), 2);
  auto st = opt.state();
  ASSERT_EQ(st.size(), 4u);
  EXPECT_EQ(st[0].first, "exp_avg.w");
  EXPECT_EQ(st[3].first, "exp_avg_sq.b");
  EXPECT_NEAR(st[2].second.at({1, 0}), 0.001 * 0.09 * 0.999 + 0.001 * 0.09, 1e-9);
}

// Which parameters decay: a step with zero gradients moves only the decayed ones, by 1 - lr*wd.
// Matrices and embeddings decay; vectors and Mamba's A_log and D (the reference code's
// _no_weight_decay, whatever their shape) do not.
TEST(adamw, mamba_A_log_and_D_are_not_decayed) {
  models::lm m(lmlab::testing::small_lm(9, 8, "MA", 2, 4), 1);
  train::adamw opt(m.named_parameters(), {0.9, 0.999, 1e-8, 0.1});
  auto before = m.named_parameters();
  std::vector<std::vector<double>> was;
  for (auto& [n, p] : before) {
    was.push_back(p.to_vector());
    p.set_grad(tensor::zeros(p.shape()));
  }
  opt.step(0.5);
  std::vector<std::string> decayed;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const auto now = before[i].second.to_vector();
    if (now == was[i]) continue;
    decayed.push_back(before[i].first);
    for (std::size_t j = 0; j < now.size(); ++j)
      EXPECT_EQ(static_cast<float>(now[j]), static_cast<float>(was[i][j]) * 0.95f) << before[i].first;
  }
  for (const char* n : {"blocks.0.ssm.A_log", "blocks.0.ssm.D", "blocks.0.ssm.dt_proj.bias", "blocks.0.ln1.weight"})
    EXPECT_EQ(std::count(decayed.begin(), decayed.end(), n), 0) << n;
  for (const char* n : {"blocks.0.ssm.in_proj.weight", "blocks.0.ssm.x_proj.weight", "blocks.1.attn.w_q", "wte.weight"})
    EXPECT_EQ(std::count(decayed.begin(), decayed.end(), n), 1) << n;
}

TEST(schedule, warmup_then_cosine_to_min) {
  train::lr_schedule s{1.0, 0.1, 4, 14};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
  EXPECT_NEAR(s.at(9), 0.55, 1e-12);  // halfway through the cosine
  EXPECT_DOUBLE_EQ(s.at(14), 0.1);
  EXPECT_DOUBLE_EQ(s.at(20), 0.1);
}

TEST(schedule, linear_wsd_and_constant) {
  using shape = train::lr_schedule::shape;
  train::lr_schedule lin{1.0, 0.1, 4, 14, shape::linear};
  EXPECT_DOUBLE_EQ(lin.at(3), 1.0);
  EXPECT_NEAR(lin.at(9), 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(lin.at(14), 0.1);
  // WSD: 10 steps after warmup, the last 20% (2 steps) decay linearly.
  train::lr_schedule wsd{1.0, 0.1, 4, 14, shape::wsd, 0.2};
  EXPECT_DOUBLE_EQ(wsd.at(5), 1.0);
  EXPECT_DOUBLE_EQ(wsd.at(12), 1.0);
  EXPECT_NEAR(wsd.at(13), 0.55, 1e-12);
  EXPECT_NEAR(wsd.at(14), 0.1, 1e-12);
  train::lr_schedule con{1.0, 0.1, 4, 14, shape::constant};
  EXPECT_DOUBLE_EQ(con.at(13), 1.0);
  EXPECT_EQ(train::schedule_shape("wsd", "train.schedule"), shape::wsd);
  try {
    train::schedule_shape("step", "train.schedule");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "train.schedule: unknown schedule 'step'");
  }
}

TEST(clip, scales_to_max_norm_and_returns_the_norm) {
  tensor a = tensor::zeros({2}), b = tensor::zeros({1});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  a.set_grad(tensor::from<float>({2}, {3.f, 0.f}));
  b.set_grad(tensor::from<float>({1}, {4.f}));
  EXPECT_DOUBLE_EQ(train::clip_grad_norm({a, b}, 10.0), 5.0);
  EXPECT_EQ(a.grad().at({0}), 3.0);  // under the limit: untouched
  EXPECT_DOUBLE_EQ(train::clip_grad_norm({a, b}, 1.0), 5.0);
  EXPECT_NEAR(a.grad().at({0}), 0.6, 1e-6);
  EXPECT_NEAR(b.grad().at({0}), 0.8, 1e-6);
}

TEST(config, errors_name_the_key) {
  EXPECT_EQ(error_of([] { train::parse_train_config("[train]\nlrr = 1e-3\n", "cfg.toml"); }),
            "cfg.toml: unknown key 'train.lrr'");
  EXPECT_EQ(error_of([] { train::parse_train_config("[optim]\nlr = 1e-3\n", "cfg.toml"); }), "cfg.toml: unknown key 'optim'");
  EXPECT_EQ(error_of([] { train::parse_train_config("[train]\nlr = \"fast\"\n", "cfg.toml"); }),
            "cfg.toml: train.lr: expected a number, got 'fast'");
  EXPECT_EQ(error_of([] { train::parse_train_config("[model]\nn_layers = 2.5\n", "cfg.toml"); }),
            "cfg.toml: model.n_layers: expected an integer, got 2.5");
  EXPECT_EQ(error_of([] { train::parse_train_config("[model]\nd_model = 100\nn_heads = 3\n", "cfg.toml"); }),
            "cfg.toml: model.d_model: 100 is not divisible by model.n_heads = 3");
  EXPECT_EQ(error_of([] { train::parse_train_config("[model]\nn_ctx = 64\n[train]\nseq_len = 65\n", "cfg.toml"); }),
            "cfg.toml: train.seq_len: 65 exceeds model.n_ctx = 64");
  EXPECT_EQ(error_of([] { train::parse_train_config("", "cfg.toml", {"train.warmup=5"}); }), "--set: unknown key 'train.warmup'");
  EXPECT_EQ(error_of([] { train::parse_train_config("", "cfg.toml", {"model.tie_embeddings=maybe"}); }),
            "--set: model.tie_embeddings: expected true or false, got 'maybe'");
  EXPECT_NE(error_of([] { train::parse_train_config("[train\n", "cfg.toml"); }).find("cfg.toml:1:"), std::string::npos);
  // B*T wrapped: 2^57 sequences of 128 tokens is 2^64.
  EXPECT_EQ(error_of([] { train::parse_train_config("", "cfg.toml", {"train.batch_size=144115188075855872"}); }),
            "cfg.toml: train.batch_size: 144115188075855872 sequences of 128 tokens is more than 2147483647 tokens per batch");
}

TEST(config, sets_override_and_toml_round_trips) {
  auto c = train::parse_train_config("[train]\nlr = 1e-3\n", "cfg.toml",
                                     {"train.lr=3e-4", "data.corpus=jargon", "model.tie_embeddings=false", "train.steps=7"});
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);
  EXPECT_EQ(c.data.corpus, "jargon");
  EXPECT_FALSE(c.model.tie_embeddings);
  EXPECT_EQ(c.train.steps, 7);
  c.train.min_lr = 1.0 / 3.0 * 1e-4;  // needs all 17 digits
  auto back = train::parse_train_config(train::to_toml(c), "round-trip");
  EXPECT_EQ(train::to_toml(back), train::to_toml(c));
  EXPECT_EQ(back.train.min_lr, c.train.min_lr);
}

TEST(checkpoint, round_trip_and_no_partial_checkpoint_on_failure) {
  auto d = temp_dir("ckpt");
  const models::lm_config mc = tiny_model();
  models::lm m(mc, 1);
  train::adamw opt(m.named_parameters(), {});
  train::save_checkpoint(d / "checkpoint", {&m, &opt, {{"step", 3}}, nlohmann::json{{"kind", "x"}}});
  auto ck = train::load_checkpoint(d / "checkpoint");
  EXPECT_EQ(ck.config.d_model, 8);
  EXPECT_EQ(ck.trainer_state["step"], 3);
  for (auto& [n, p] : m.named_parameters()) EXPECT_EQ(ck.model->parameter(n).to_vector(), p.to_vector()) << n;
  // A failure while writing the next checkpoint leaves the previous one intact and no temp.
  models::lm m2(mc, 2);
  for (int after = 0; after < 4; ++after) {
    train::inject_checkpoint_failure_after(after);
    EXPECT_NE(error_of([&] { train::save_checkpoint(d / "checkpoint", {&m2, &opt, {{"step", 4}}, {}}); })
                  .find("injected failure"),
              std::string::npos);
    std::vector<std::string> entries;
    for (auto& e : fs::directory_iterator(d)) entries.push_back(e.path().filename().string());
    EXPECT_EQ(entries, std::vector<std::string>{"checkpoint"});
    auto again = train::load_checkpoint(d / "checkpoint");
    EXPECT_EQ(again.trainer_state["step"], 3);
    EXPECT_EQ(again.model->parameter("wte.weight").to_vector(), m.parameter("wte.weight").to_vector());
  }
  // A fresh folder that fails leaves nothing at all.
  train::inject_checkpoint_failure_after(1);
  EXPECT_THROW(train::save_checkpoint(d / "fresh", {&m2, &opt, {}, {}}), error);
  EXPECT_FALSE(fs::exists(d / "fresh"));
  // A successful save replaces the old checkpoint.
  train::save_checkpoint(d / "checkpoint", {&m2, &opt, {{"step", 4}}, {}});
  auto newer = train::load_checkpoint(d / "checkpoint");
  EXPECT_EQ(newer.trainer_state["step"], 4);
  EXPECT_EQ(newer.model->parameter("wte.weight").to_vector(), m2.parameter("wte.weight").to_vector());
  EXPECT_FALSE(fs::exists(d / "checkpoint" / "tokenizer.json"));
  fs::remove_all(d);
}

TEST(checkpoint, weights_load_by_name_and_a_renamed_or_reshaped_parameter_is_named) {
  auto d = temp_dir("by_name");
  const models::lm_config mc = tiny_model();
  models::lm src(mc, 1), dst(mc, 2);
  // Stored in reverse order: a copy by position would put wte's values into ln_f.
  auto params = src.named_parameters();
  std::reverse(params.begin(), params.end());
  fs::create_directories(d);
  nn::save_safetensors(d / "model.safetensors", params, {});
  train::load_weights(d, dst);
  for (auto& [n, p] : src.named_parameters()) EXPECT_EQ(dst.parameter(n).to_vector(), p.to_vector()) << n;
  const std::string file = (d / "model.safetensors").string();
  // Renamed: the model's parameter is missing from the file.
  auto renamed = src.named_parameters();
  for (auto& [n, p] : renamed)
    if (n == "blocks.0.mlp.w_in") n = "blocks.0.mlp.w_up";
  nn::save_safetensors(d / "model.safetensors", renamed, {});
  EXPECT_EQ(error_of([&] { train::load_weights(d, dst); }), file + ": missing tensor 'blocks.0.mlp.w_in'");
  // Reshaped: another d_mlp.
  models::lm_config wide = mc;
  wide.d_mlp = 16;
  models::lm other(wide, 1);
  nn::save_safetensors(d / "model.safetensors", other.named_parameters(), {});
  EXPECT_EQ(error_of([&] { train::load_weights(d, dst); }),
            file + ": tensor 'blocks.0.mlp.w_in' has shape [16, 8], expected [32, 8]");
  fs::remove_all(d);
}

TEST(checkpoint, corrupt_files_give_errors_naming_file_and_tensor) {
  auto d = temp_dir("corrupt");
  const models::lm_config mc = tiny_model();
  models::lm m(mc, 1);
  train::save_checkpoint(d / "ck", {&m, nullptr, {}, {}});
  const fs::path st = d / "ck" / "model.safetensors";
  auto bytes = read_binary_file(st);
  // Truncated.
  write_file_atomic(st, std::span<const std::uint8_t>(bytes.data(), bytes.size() - 10));
  std::string e = error_of([&] { train::load_checkpoint(d / "ck"); });
  EXPECT_NE(e.find(st.string() + ": truncated: tensor 'ln_f.bias'"), std::string::npos) << e;
  // Wrong shape: the config says n_ctx 5 but wpe.weight is (4, 8).
  write_file_atomic(st, std::span<const std::uint8_t>(bytes));
  auto cfg = nlohmann::json::parse(read_text_file(d / "ck" / "config.json"));
  cfg["max_position_embeddings"] = 5;
  write_file_atomic(d / "ck" / "config.json", cfg.dump());
  EXPECT_EQ(error_of([&] { train::load_checkpoint(d / "ck"); }),
            st.string() + ": tensor 'wpe.weight' has shape [4, 8], expected [5, 8]");
  cfg["max_position_embeddings"] = 4;
  write_file_atomic(d / "ck" / "config.json", cfg.dump());
  // Wrong dtype, and a missing tensor.
  auto params = m.named_parameters();
  params[1].second = params[1].second.to_raw(dtype::f64);
  nn::save_safetensors(st, params);
  EXPECT_EQ(error_of([&] { train::load_checkpoint(d / "ck"); }), st.string() + ": tensor 'wpe.weight' has dtype F64, expected F32");
  params = m.named_parameters();
  params.erase(params.begin() + 3);
  nn::save_safetensors(st, params);
  EXPECT_EQ(error_of([&] { train::load_checkpoint(d / "ck"); }), st.string() + ": missing tensor 'blocks.0.ln1.bias'");
  // A tokenizer.json that is not JSON escaped as a bare nlohmann parse_error (no file named).
  train::save_checkpoint(d / "ck", {&m, nullptr, {}, {}});
  write_file_atomic(d / "ck" / "tokenizer.json", std::string("{\"type\": "));
  EXPECT_EQ(error_of([&] { train::load_checkpoint(d / "ck"); }).rfind((d / "ck" / "tokenizer.json").string() + ": not valid JSON: ", 0),
            0u);
  fs::remove_all(d);
}

TEST(trainer, resume_is_bit_identical_and_runs_are_deterministic) {
  auto d = temp_dir("resume");
  auto train_ids = synthetic_tokens(3000, 1), val_ids = synthetic_tokens(600, 2);
  train::token_source src{std::span<const std::int32_t>(train_ids), std::span<const std::int32_t>(val_ids), std::nullopt};
  train::run_options quiet;
  quiet.progress = nullptr;

  auto full = train::run_training(small_config(d / "full"), src, quiet);
  ASSERT_EQ(full.losses.size(), 10u);
  EXPECT_LT(full.losses.back(), full.losses.front());  // it learns
  ASSERT_EQ(full.evals.size(), 2u);

  auto again = train::run_training(small_config(d / "again"), src, quiet);
  EXPECT_EQ(again.losses, full.losses);  // same seed and thread count: the same numbers
  EXPECT_EQ(again.final_val_loss, full.final_val_loss);

  train::run_options first = quiet;
  first.stop_after = 5;
  auto a = train::run_training(small_config(d / "split"), src, first);
  EXPECT_EQ(a.end_step, 5);
  train::run_options second = quiet;
  second.resume = true;
  auto b = train::run_training(small_config(d / "split"), src, second);
  EXPECT_EQ(b.start_step, 5);
  std::vector<float> joined = a.losses;
  joined.insert(joined.end(), b.losses.begin(), b.losses.end());
  EXPECT_EQ(joined, full.losses);  // exact equality
  EXPECT_EQ(b.final_val_loss, full.final_val_loss);
  auto ck_full = train::load_checkpoint(d / "full" / "checkpoint");
  auto ck_split = train::load_checkpoint(d / "split" / "checkpoint");
  for (auto& [n, p] : ck_full.model->named_parameters())
    EXPECT_EQ(ck_split.model->parameter(n).values<float>(), p.values<float>()) << n;

  // Resuming with a changed config is refused, naming the key.
  auto changed = small_config(d / "split");
  changed.train.lr = 5e-3;
  EXPECT_NE(error_of([&] { train::run_training(changed, src, second); }).find("differs from the checkpoint's at train: "),
            std::string::npos);
  // Two threads: again the same numbers run to run.
  auto two = small_config(d / "two");
  two.train.threads = 2;
  two.train.steps = 4;
  auto t1 = train::run_training(two, src, quiet);
  two.train.out_dir = (d / "two_again").string();
  auto t2 = train::run_training(two, src, quiet);
  EXPECT_EQ(t1.losses, t2.losses);
  set_num_threads(1);
  // A different seed gives different numbers.
  auto other_cfg = small_config(d / "other");
  other_cfg.train.seed = 4;
  auto other = train::run_training(other_cfg, src, quiet);
  EXPECT_NE(other.losses, full.losses);
  fs::remove_all(d);
}

TEST(trainer, evaluate_split_reports_loss_perplexity_and_bits_per_char) {
  const models::lm_config mc = tiny_model(17, 8);
  models::lm m(mc, 1);
  std::vector<std::uint32_t> chars;
  for (std::uint32_t c = 'a'; c < 'a' + 17; ++c) chars.push_back(c);
  data::char_tokenizer tok(chars);
  auto ids = synthetic_tokens(100, 5);
  auto r = train::evaluate_split(m, std::span<const std::int32_t>(ids), &tok, 3, 8);
  EXPECT_EQ(r.tokens, (99 / 8) * 8);
  EXPECT_EQ(r.chars, r.tokens);  // one character per token
  EXPECT_NEAR(r.loss, std::log(17.0), 0.1);  // an untrained model is near uniform
  EXPECT_DOUBLE_EQ(r.perplexity, std::exp(r.loss));
  EXPECT_DOUBLE_EQ(r.bits_per_char, r.loss / std::log(2.0));
}

TEST(mfu, palm_flops_per_token) {
  const models::lm_config c = lmlab::testing::small_lm(96, 128, 4, 4, 128);
  // N without the position table: 96*128 + 4*(12*128^2 + 13*128) + 2*128.
  const double N = 96 * 128 + 4 * (12.0 * 128 * 128 + 13 * 128) + 256;
  EXPECT_DOUBLE_EQ(train::train_flops_per_token(c, 128), 6 * N + 12.0 * 4 * 128 * 128);
}

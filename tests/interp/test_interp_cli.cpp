// `lmlab interp` end to end on checkpoints of two mixers (attention, Mamba) saved by the test:
// each verb runs, the cache file holds the asked hooks, patching equal inputs prints effect 0,
// a zero steering direction changes nothing, and errors name the file, line and column, or
// list the close hook names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "core/process.hpp"
#include "models/lm.hpp"
#include "nn/safetensors.hpp"
#include "train/checkpoint.hpp"
#include "../lm_test_config.hpp"
#include "../run_lmlab.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

using result = lmlab::testing::lmlab_result;
using lmlab::testing::run_lmlab;

struct fixture {
  fs::path dir;
  fixture() : dir(fs::temp_directory_path() / ("lmlab_interp_cli_" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* p : {"A", "M"}) {
      models::lm_config c = lmlab::testing::small_lm(12, 16, 2, 2, 16);
      c.pattern = p;
      auto m = models::make_model(c, 1);
      train::checkpoint_contents cc;
      cc.model = m.get();
      train::save_checkpoint(dir / p, cc);
    }
  }
  ~fixture() { fs::remove_all(dir); }
  std::string ckpt(const char* p) const { return (dir / p).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  // Writes spec `name` and runs it with `lmlab lab run` into the store `db` (in dir).
  result lab_run(const std::string& name, const std::string& text, const std::string& db) const {
    return run_lmlab({"lab", "run", write(name, text), "--store", (dir / db).string(), "--runs-dir", (dir / "runs").string()});
  }
};

// The CSV rows of a patching table ("blocks.…" lines): each one's last field (the effect) must
// be 0; returns how many there were.
std::size_t zero_effect_rows(const std::string& csv) {
  std::size_t rows = 0;
  for (std::size_t at = csv.find("\nblocks."); at != std::string::npos; at = csv.find("\nblocks.", at + 1)) {
    const auto eol = csv.find('\n', at + 1);
    EXPECT_EQ(csv.substr(csv.rfind(',', eol) + 1, eol - csv.rfind(',', eol) - 1), "0") << csv.substr(at + 1, eol - at - 1);
    ++rows;
  }
  return rows;
}

}  // namespace

TEST(interp_cli, cache_heads_patch_probe_and_steer_run_on_attention_and_mamba) {
  fixture fx;
  const auto ids = fx.write("ids.txt", "1 2 3 4 5\n6,7,8,9,10\n");
  for (const char* p : {"A", "M"}) {
    const auto out = (fx.dir / (std::string(p) + ".safetensors")).string();
    auto r = run_lmlab({"interp", "cache", fx.ckpt(p), "--input", ids, "--hooks", "blocks.*.hook_resid_post", "--out", out,
                        "--layer-at-a-time"});
    ASSERT_EQ(r.rc, 0) << r.output;
    EXPECT_NE(r.output.find("2 tensors"), std::string::npos) << r.output;
    EXPECT_EQ(nn::safetensors_file::load(out).get("blocks.1.hook_resid_post").shape(), (shape_t{2, 5, 16}));
    // Equal clean and corrupted inputs: every cell has effect 0.
    r = run_lmlab({"interp", "patch", fx.ckpt(p), "--ids", "--clean", "1 2 3", "--corrupt", "1 2 3", "--answer", "4", "--wrong",
                   "5", "-o", "csv"});
    ASSERT_EQ(r.rc, 0) << r.output;
    EXPECT_NE(r.output.find("hook,layer,pos,logit_diff,effect\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("blocks.1.hook_resid_pre,1,2,"), std::string::npos) << r.output;
    EXPECT_EQ(zero_effect_rows(r.output), 6u);
    // A zero direction changes nothing.
    const auto zero = (fx.dir / "zero.safetensors").string();
    nn::save_safetensors(zero, {{"direction", tensor::zeros({16})}});
    r = run_lmlab({"interp", "steer", fx.ckpt(p), "--hook", "blocks.0.hook_resid_post", "--direction", zero, "--ids", "--text",
                   "1 2 3", "--answer", "4", "--wrong", "5", "--scales", "-3,5", "-o", "csv"});
    ASSERT_EQ(r.rc, 0) << r.output;
    std::size_t unchanged = 0;
    for (std::size_t at = r.output.find("\nblocks."); at != std::string::npos; at = r.output.find("\nblocks.", at + 1))
      unchanged += r.output.compare(r.output.find('\n', at + 1) - 2, 2, ",0") == 0;
    EXPECT_EQ(unchanged, 2u) << r.output;
  }
  auto r = run_lmlab({"interp", "heads", fx.ckpt("A"), "--n", "4", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(r.output.rfind("layer,head,induction,prev_token\n0,0,", 0), 0u) << r.output;
  r = run_lmlab({"interp", "heads", fx.ckpt("M")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp heads: the model has no blocks.N.attn.hook_pattern"), std::string::npos) << r.output;
  std::string tsv;
  for (int i = 0; i < 40; ++i) tsv += std::string(i % 2 ? "yes" : "no") + "\t" + std::to_string(i % 11) + " 3 " + std::to_string(i % 7) + "\n";
  r = run_lmlab({"interp", "probe", fx.ckpt("M"), "--hook", "blocks.1.hook_resid_post", "--examples", fx.write("p.tsv", tsv),
                 "--save-direction", (fx.dir / "d.safetensors").string()});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("selectivity"), std::string::npos) << r.output;
  const auto dfile = nn::safetensors_file::load(fx.dir / "d.safetensors");
  EXPECT_EQ(dfile.get("direction").shape(), (shape_t{16}));
  EXPECT_EQ(dfile.get("mean_diff").shape(), (shape_t{16}));
}

TEST(interp_cli, logit_lens_and_attention_patterns) {
  fixture fx;
  auto r = run_lmlab({"interp", "logit-lens", fx.ckpt("M"), "--ids", "--text", "1 2 3", "--answer", "4", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(r.output.rfind("layer,top,p_answer,rank_answer\n0,", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\n1,"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "attn", fx.ckpt("A"), "--layer", "1", "--head", "1", "--ids", "--text", "1 2 3", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(r.output.rfind("query,0,1,2\n0,1,0,0\n", 0), 0u) << r.output;  // the first query sees only itself
  r = run_lmlab({"interp", "attn", fx.ckpt("A"), "--layer", "1", "--head", "2", "--ids", "--text", "1 2 3"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: --head 2: layer 1 has 2 heads"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "attn", fx.ckpt("M"), "--ids", "--text", "1 2 3"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp: no hook point matches 'blocks.0.attn.hook_pattern'"), std::string::npos) << r.output;
}

TEST(interp_cli, errors_name_the_file_line_and_column_or_the_close_hooks) {
  fixture fx;
  auto r = run_lmlab({"interp", "cache", fx.ckpt("A"), "--input", fx.write("bad.txt", "1 2 3\n4 x 6\n"), "--out",
                      (fx.dir / "o.safetensors").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("bad.txt:2:3: 'x' is not a token id\n"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(fx.dir / "o.safetensors"));
  r = run_lmlab({"interp", "probe", fx.ckpt("A"), "--hook", "blocks.0.hook_resid_post", "--examples",
                 fx.write("bad.tsv", "a\t1 2\nb\t1 99\n")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("bad.tsv:2:5: token id 99 is outside the vocabulary of 12\n"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "cache", fx.ckpt("M"), "--text", "1 2", "--ids", "--hooks", "blocks.0.ssm.hook_stat", "--out",
                 (fx.dir / "o.safetensors").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp: no hook point matches 'blocks.0.ssm.hook_stat'\nhint: close matches: blocks.0.ssm.hook_state"),
            std::string::npos)
      << r.output;
  r = run_lmlab({"interp", "patch", fx.ckpt("A"), "--ids", "--clean", "1 2 3", "--corrupt", "1 2", "--answer", "4", "--wrong", "5"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp patch: clean ids [1, 3] and corrupted ids [1, 2] differ in shape"), std::string::npos)
      << r.output;
}

// The "tms" lab runner (src/cli/interp_lab.cpp) through `lmlab lab run`: a spec with no
// [train] section runs, logs the summary metrics, and `lab show` lists them.
TEST(interp_cli, tms_spec_runs_through_the_lab_runner) {
  fixture f;
  const auto r = f.lab_run("tms.toml", R"(name = "tms_t"
seeds = 1
[task]
name = "tms"
n = 2
m = 1
sparsity = 0.99
steps = 600
instances = 1
)", "t.db");
  const std::string db = (f.dir / "t.db").string();
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto show = run_lmlab({"lab", "ls", "--store", db});
  EXPECT_EQ(show.rc, 0) << show.output;
  EXPECT_NE(show.output.find("tms_t"), std::string::npos) << show.output;
  const auto metrics = run_lmlab({"lab", "show", "1", "--store", db});
  EXPECT_NE(metrics.output.find("represented"), std::string::npos) << metrics.output;
  EXPECT_NE(metrics.output.find("dims_per_feature"), std::string::npos) << metrics.output;
  // A key the task does not have is an error naming it.
  const std::string bad = f.write("bad.toml", "name = \"b\"\n[task]\nname = \"tms\"\nsparsty = 0.5\n");
  const auto e = run_lmlab({"lab", "run", bad, "--store", db, "--runs-dir", (f.dir / "runs").string()});
  EXPECT_NE(e.rc, 0);
  EXPECT_NE(e.output.find("task.sparsty"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("did you mean 'sparsity'"), std::string::npos) << e.output;
}

// The carry runner logs the paired lead of the class-mean direction over the logistic one, which
// experiments/interp_carry.toml's rule reads: meandiff_lead = flip_gap_meandiff - flip_gap.
TEST(interp_cli, carry_runner_logs_the_paired_meandiff_lead) {
  fixture f;
  const auto r = f.lab_run("carry.toml", R"(name = "carry_t"
seeds = 1
[model]
arch = "gpt"
n_layers = 2
d_model = 16
n_heads = 2
[task]
name = "carry_probe"
num_train = 300
num_test = 20
probe_examples = 80
patch_pairs = 4
max_scale = 1
[train]
steps = 40
batch_size = 16
)", "c.db");
  const std::string db = (f.dir / "c.db").string();
  ASSERT_EQ(r.rc, 0) << r.output;
  const auto show = run_lmlab({"lab", "show", "1", "--store", db});
  ASSERT_EQ(show.rc, 0) << show.output;
  const auto value = [&](const std::string& name) {
    std::istringstream in(show.output);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string key;
      double step = 0, v = 0;
      if (ls >> key >> step >> v && key == name) return v;
    }
    ADD_FAILURE() << "no metric " << name << " in\n" << show.output;
    return 0.0;
  };
  // `lab show` prints 4 significant digits.
  EXPECT_NEAR(value("meandiff_lead"), value("flip_gap_meandiff") - value("flip_gap"), 2e-3) << show.output;
}

TEST(interp_cli, ridge_probe_runs_and_a_bad_kind_is_an_error) {
  fixture fx;
  std::string tsv;
  for (int i = 0; i < 40; ++i) tsv += std::string(i % 2 ? "yes" : "no") + "\t" + std::to_string(i % 11) + " 3 " + std::to_string(i % 7) + "\n";
  const std::string file = fx.write("r.tsv", tsv);
  auto r = run_lmlab({"interp", "probe", fx.ckpt("A"), "--hook", "blocks.*.hook_resid_post", "--examples", file, "--kind", "ridge", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_EQ(r.output.rfind("hook,position,classes,train,test,train_acc,task_acc,control_acc,selectivity\nblocks.0.hook_resid_post,", 0), 0u)
      << r.output;
  EXPECT_NE(r.output.find("\nblocks.1.hook_resid_post,"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "probe", fx.ckpt("A"), "--hook", "blocks.0.hook_resid_post", "--examples", file, "--kind", "svm"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: probe: kind 'svm' is not known\nhint: use logistic or ridge"), std::string::npos) << r.output;
}

// `interp sae`: trains an SAE on a hook of any mixer, prints its metrics, writes it, and scoring
// the written file on the same inputs gives the same row (the F64 file round-trips exactly); a
// file whose width differs from the hook's is an error naming both.
TEST(interp_cli, sae_trains_scores_saves_and_reloads_on_attention_and_mamba) {
  fixture fx;
  std::string lines;
  for (int i = 0; i < 12; ++i) lines += fmt::format("{} {} {} {} {} {}\n", i % 11 + 1, (3 * i) % 11 + 1, (5 * i) % 11, i % 4, 7, (i * i) % 11);
  const auto ids = fx.write("sae_ids.txt", lines);
  for (const char* p : {"A", "M"}) {
    const auto file = (fx.dir / (std::string(p) + "_sae.safetensors")).string();
    auto r = run_lmlab({"interp", "sae", fx.ckpt(p), "--hook", "blocks.1.hook_resid_pre", "--input", ids, "--steps", "60", "--k", "2",
                        "--d-sae", "32", "--out", file, "-o", "csv"});
    ASSERT_EQ(r.rc, 0) << r.output;
    const std::string head = "kind,d_in,d_sae,k,train_rows,test_rows,l0,explained_variance,dead_fraction,ce_clean,ce_sae,ce_ablation,ce_loss_score\n";
    const auto at = r.output.find(head);
    ASSERT_NE(at, std::string::npos) << r.output;
    const std::string row = r.output.substr(at + head.size(), r.output.find('\n', at + head.size()) - at - head.size());
    EXPECT_EQ(row.rfind("topk,16,32,2,54,18,", 0), 0u) << row;  // 9 train rows, 3 test rows, 6 positions each
    const auto saved = nn::safetensors_file::load(file);
    EXPECT_EQ(saved.get("W_dec").shape(), (shape_t{32, 16}));
    EXPECT_EQ(saved.metadata().at("hook"), "blocks.1.hook_resid_pre");
    r = run_lmlab({"interp", "sae", fx.ckpt(p), "--hook", "blocks.1.hook_resid_pre", "--input", ids, "--sae", file, "-o", "csv"});
    ASSERT_EQ(r.rc, 0) << r.output;
    EXPECT_NE(r.output.find(head + row + "\n"), std::string::npos) << r.output;
  }
  // A 4-wide SAE file against a 16-wide hook.
  const auto narrow = (fx.dir / "narrow.safetensors").string();
  auto z = [](shape_t s) { return tensor::zeros(std::move(s), dtype::f64); };
  nn::save_safetensors(narrow, {{"W_enc", z({8, 4})}, {"b_enc", z({8})}, {"W_dec", z({8, 4})}, {"b_dec", z({4})}},
                       {{"kind", "topk"}, {"k", "2"}, {"threshold", "0"}});
  auto r = run_lmlab({"interp", "sae", fx.ckpt("A"), "--hook", "blocks.0.hook_resid_post", "--input", ids, "--sae", narrow});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: --sae " + narrow + ": its d_in is 4, the hook blocks.0.hook_resid_post has width 16"), std::string::npos)
      << r.output;
  r = run_lmlab({"interp", "sae", fx.ckpt("A"), "--ids", "--text", "1 2 3"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp sae: 1 input row(s); a train/test split needs at least 2"), std::string::npos) << r.output;
}

TEST(interp_cli, path_patching_from_mlps_and_into_one_receiver_head) {
  fixture fx;
  // Equal inputs, heads and MLPs sending to the logits: a row per head and MLP, every effect 0.
  auto r = run_lmlab({"interp", "patch", fx.ckpt("A"), "--ids", "--clean", "1 2 3", "--corrupt", "1 2 3", "--answer", "4",
                      "--wrong", "5", "--path-to", "logits", "--senders", "all", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("hook,layer,head,logit_diff,effect\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nblocks.1.hook_mlp_out,1,mlp,"), std::string::npos) << r.output;
  EXPECT_EQ(zero_effect_rows(r.output), 6u);  // 2 layers x (2 heads + the MLP)
  // The grid has an "mlp" column; one receiver head of layer 1's values.
  r = run_lmlab({"interp", "patch", fx.ckpt("A"), "--ids", "--clean", "1 2 3", "--corrupt", "1 7 3", "--answer", "4", "--wrong",
                 "5", "--path-to", "blocks.1.attn.hook_v", "--receiver-head", "1", "--senders", "all"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("mlp"), std::string::npos) << r.output;
  // MLP senders need no attention: Mamba to the logits.
  r = run_lmlab({"interp", "patch", fx.ckpt("M"), "--ids", "--clean", "1 2 3", "--corrupt", "1 7 3", "--answer", "4", "--wrong",
                 "5", "--path-to", "logits", "--senders", "mlps", "-o", "csv"});
  ASSERT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("\nblocks.0.hook_mlp_out,0,mlp,"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "patch", fx.ckpt("A"), "--ids", "--clean", "1 2 3", "--corrupt", "1 7 3", "--answer", "4", "--wrong",
                 "5", "--path-to", "blocks.1.attn.hook_q", "--receiver-head", "2"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("error: interp patch: receiver head 2: blocks.1.attn.hook_q has 2 heads"), std::string::npos) << r.output;
  r = run_lmlab({"interp", "patch", fx.ckpt("A"), "--ids", "--clean", "1 2 3", "--corrupt", "1 7 3", "--answer", "4", "--wrong",
                 "5", "--senders", "mlps"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.output.find("--senders and --receiver-head are options of path patching"), std::string::npos) << r.output;
}

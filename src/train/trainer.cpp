// The training loop, evaluation, MFU and data preparation glue: see trainer.hpp.
#include "train/trainer.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "autograd/autograd.hpp"
#include "autograd/grad_hook.hpp"
#include "core/cpu.hpp"
#include "core/fs.hpp"
#include "core/threads.hpp"
#include "data/corpus.hpp"
#include "data/prepare.hpp"
#include "train/checkpoint.hpp"
#include "train/optim.hpp"

namespace lmlab::train {

namespace fs = std::filesystem;

namespace {

// splitmix64: derives the per-step dropout seed from (seed, step).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
constexpr std::uint64_t kEvalSeedSalt = 0x5EED0E7A1ull;

tensor to_tensor(const std::vector<std::int32_t>& v, std::int64_t B, std::int64_t T) {
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

std::string human(double x) {
  if (x >= 1e6) return fmt::format("{:.2f}M", x / 1e6);
  if (x >= 1e3) return fmt::format("{:.1f}k", x / 1e3);
  return fmt::format("{:.0f}", x);
}

std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

// The keys a resumed run may change without breaking bit-identity of the steps it repeats.
train_config comparable(train_config c, const train_config& now) {
  c.train.steps = now.train.steps;
  c.train.out_dir = now.train.out_dir;
  c.train.eval_every = now.train.eval_every;
  c.train.log_every = now.train.log_every;
  c.train.checkpoint_every = now.train.checkpoint_every;
  c.train.dp_bucket_kb = now.train.dp_bucket_kb;  // how gradients travel, not what they are
  c.train.dp_overlap = now.train.dp_overlap;
  c.data.prepared_dir = now.data.prepared_dir;
  return c;
}

std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb, section;
  while (std::getline(sa, la) && std::getline(sb, lb)) {
    if (!la.empty() && la[0] == '[') section = la.substr(1, la.size() - 2);
    if (la != lb) return fmt::format("{}: checkpoint has `{}`, config has `{}`", section, la, lb);
  }
  return "?";
}

// The progress line: live on a TTY (\r), plain lines otherwise.
void progress_line(std::FILE* f, bool tty, std::int64_t step, std::int64_t steps, float loss, double lr, double tps,
                   double mfu_percent, double eta) {
  const std::string line = fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | {} tok/s | MFU {:.1f}% | ETA {}", step, steps,
                                       loss, lr, human(tps), mfu_percent, duration(eta));
  if (tty) std::fprintf(f, "\r%-100s", line.c_str());
  else std::fprintf(f, "%s\n", line.c_str());
  std::fflush(f);
}

}  // namespace

double train_flops_per_token(const models::lm_config& c, std::int64_t T) {
  return models::lm(c, 0).train_flops_per_token(T);
}

double nominal_peak_flops(int threads) {
  if (const char* p = std::getenv("LMLAB_PEAK_GFLOPS")) return std::atof(p) * 1e9;
  // Detected once per process: the ISA's FLOP/cycle (core/cpu.hpp) x the measured clock.
  static const double per_core = [] {
    double ghz = 0;
    if (const char* g = std::getenv("LMLAB_CPU_GHZ")) ghz = std::atof(g);
    if (ghz <= 0) ghz = measure_ghz();
    return detect_cpu().flop_per_cycle * ghz * 1e9;
  }();
  return per_core * std::max(1, threads);
}

double evaluate(models::causal_lm& model, data::token_view tokens, std::int64_t B, std::int64_t T, std::int64_t n_batches,
                std::uint64_t seed) {
  LMLAB_CHECK_HINT(tokens.size() > static_cast<std::size_t>(T + 1), "use a shorter seq_len or more validation data",
                   "evaluate: {} tokens are too few for windows of {}", tokens.size(), T + 1);
  no_grad ng;
  const bool was_training = model.training();
  model.eval();
  double sum = 0;
  for (std::int64_t k = 0; k < n_batches; ++k) {
    data::batch b = data::sample_batch(tokens, B, T, seed, static_cast<std::uint64_t>(k));
    sum += model.loss(to_tensor(b.inputs, B, T), to_tensor(b.targets, B, T)).item();
  }
  model.train(was_training);
  return sum / static_cast<double>(n_batches);
}

split_eval evaluate_split(models::causal_lm& model, data::token_view tokens, const data::tokenizer* tok, std::int64_t B,
                          std::int64_t T, std::int64_t max_batches) {
  no_grad ng;
  const bool was_training = model.training();
  model.eval();
  data::sequential_batches it(tokens, B, T);
  LMLAB_CHECK_HINT(it.num_windows() > 0, "use a shorter seq_len", "eval: {} tokens are too few for one window of {}",
                   tokens.size(), T + 1);
  data::batch b;
  double nats = 0;
  split_eval r;
  std::int64_t n = 0;
  while (it.next(b) && (max_batches <= 0 || n < max_batches)) {
    ++n;
    const std::int64_t rows = b.B;
    tensor loss = model.loss(to_tensor(b.inputs, rows, T), to_tensor(b.targets, rows, T));
    nats += loss.item() * static_cast<double>(rows * T);
    r.tokens += rows * T;
    if (tok) {
      const std::string text = tok->decode(b.targets);
      for (unsigned char ch : text) r.chars += (ch & 0xC0) != 0x80;  // count code points
    }
  }
  model.train(was_training);
  r.loss = nats / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  r.bits_per_char = tok && r.chars > 0 ? nats / std::log(2.0) / static_cast<double>(r.chars) : std::nan("");
  return r;
}

namespace {
// Restores a run from its checkpoint (weights by name, AdamW state) after checking that the
// config is the one it started with; returns the step to continue at.
std::int64_t resume_from(const fs::path& ckpt_dir, const train_config& cfg, models::lm& model, adamw& optim) {
  LMLAB_CHECK_HINT(fs::exists(ckpt_dir / "trainer_state.json"), "train without --resume to start a new run",
                   "train --resume: no checkpoint at {}", ckpt_dir.string());
  auto ck = load_checkpoint(ckpt_dir);
  const auto& st = ck.trainer_state;
  LMLAB_CHECK(st.contains("step") && st.contains("config"), "{}: trainer_state.json lacks step or config",
              ckpt_dir.string());
  const train_config saved = parse_train_config(st["config"].get<std::string>(), (ckpt_dir / "trainer_state.json").string());
  const std::string a = to_toml(comparable(saved, cfg)), b = to_toml(cfg);
  LMLAB_CHECK_HINT(a == b, "resume with the config the run started with (only train.steps, out_dir, eval_every, "
                           "log_every and checkpoint_every may change)",
                   "train --resume: the config differs from the checkpoint's at {}", first_difference(a, b));
  const auto step = st["step"].get<std::int64_t>();
  load_weights(ckpt_dir, model);  // by name, into the parameters the optimizer holds
  load_optimizer_state(ckpt_dir, optim, step);
  return step;
}
}  // namespace

namespace {
// The config, validated and checked against the data; sets the thread count it asks for.
train_config checked_config(const train_config& cfg_in, const token_source& data) {
  train_config cfg = cfg_in;
  cfg.validate();
  LMLAB_CHECK_HINT(cfg.model.vocab_size > 0, "set model.vocab_size or let the tokenizer set it",
                   "train: model.vocab_size is 0");
  if (cfg.train.threads > 0) set_num_threads(static_cast<int>(cfg.train.threads));
  const std::int64_t T = cfg.train.seq(cfg.model);
  LMLAB_CHECK_HINT(data.train.size() > static_cast<std::size_t>(T + 1), "use a shorter seq_len or more data",
                   "train: {} training tokens are too few for windows of {}", data.train.size(), T + 1);
  return cfg;
}
}  // namespace

namespace {
// One data-parallel step's timings, summed (the counts are the same every step).
void add_step_stats(dp_step_stats& total, const dp_step_stats& d) {
  total.compute_s += d.compute_s;
  total.comm_s += d.comm_s;
  total.exposed_s += d.exposed_s;
  total.buckets = d.buckets;
  total.started_in_backward = d.started_in_backward;
  total.bytes = d.bytes;
}

// The summary's per-step means and rates.
void finish_rates(train_summary& sum, double train_seconds, std::int64_t tokens_run, double flops_per_token, double peak) {
  if (const auto n = static_cast<double>(sum.losses.size()); n > 0) {
    sum.dp_mean.compute_s /= n;
    sum.dp_mean.comm_s /= n;
    sum.dp_mean.exposed_s /= n;
  }
  sum.seconds = train_seconds;
  sum.tokens_per_s = train_seconds > 0 ? tokens_run / train_seconds : 0;
  sum.mfu = sum.tokens_per_s * flops_per_token / peak;
}

void append_metrics_line(const fs::path& out_dir, const nlohmann::json& m) {
  fs::create_directories(out_dir);
  std::ofstream(out_dir / "metrics.jsonl", std::ios::app) << m.dump() << "\n";
}
}  // namespace

// Long (~90 lines): the run's state (model, optimizer, schedule, timers) and the callbacks
// that train_steps calls with it; the loop itself is train_steps below.
train_summary run_training(const train_config& cfg_in, const token_source& data, const run_options& opt) {
  const train_config cfg = checked_config(cfg_in, data);
  const auto& tc = cfg.train;
  const std::int64_t B = tc.batch_size, T = tc.seq(cfg.model);
  const std::uint64_t seed = static_cast<std::uint64_t>(tc.seed);
  const fs::path out_dir = tc.out_dir, ckpt_dir = out_dir / "checkpoint";

  models::lm model(cfg.model, seed);
  adamw optim(model.named_parameters(), {tc.beta1, tc.beta2, tc.eps, tc.weight_decay});
  lr_schedule sched{tc.lr, tc.final_lr(), tc.warmup(tc.steps), tc.steps};
  train_summary sum;
  sum.n_params = model.num_parameters();

  std::int64_t step = opt.resume ? resume_from(ckpt_dir, cfg, model, optim) : 0;
  sum.start_step = step;
  const std::int64_t end = opt.stop_after > 0 ? std::min(opt.stop_after, tc.steps) : tc.steps;

  const double flops_tok = model.train_flops_per_token(T);
  const double peak = nominal_peak_flops(num_threads());
  const bool tty = opt.progress && ::isatty(::fileno(opt.progress));
  using clock = std::chrono::steady_clock;
  double train_seconds = 0;
  std::int64_t tokens_run = 0;
  double last_val = std::nan("");

  auto save = [&](std::int64_t at_step) {
    if (!opt.write_files) return;
    nlohmann::json st = {{"step", at_step}, {"seed", tc.seed}, {"config", to_toml(cfg)},
                         {"rng", "Philox counter-based: batches and dropout are keyed by (seed, step)"}};
    if (std::isfinite(last_val)) st["val_loss"] = last_val;
    save_checkpoint(ckpt_dir, {&model, &optim, st, data.tokenizer});
  };
  auto run_eval = [&](std::int64_t at_step, double train_loss) {
    last_val = evaluate(model, data.val, B, T, tc.eval_batches, seed ^ kEvalSeedSalt);
    sum.evals.push_back({at_step, last_val});
    if (opt.progress)
      std::fprintf(opt.progress, "%seval step %lld: val loss %.4f (train %.4f)\n", tty ? "\n" : "",
                   static_cast<long long>(at_step), last_val, train_loss);
    nlohmann::json m = {{"step", at_step}, {"val_loss", last_val}, {"train_loss", train_loss}, {"lr", sched.at(at_step - 1)},
                        {"tokens_per_s", train_seconds > 0 ? tokens_run / train_seconds : 0.0}};
    for (auto& [k, v] : sum.model_metrics.items()) m[k] = v;  // MoE drops, MoD fraction (last training step)
    if (opt.write_files) append_metrics_line(out_dir, m);
  };

  model.train();
  double recent = 0;
  int recent_n = 0;
  auto t0 = clock::now();
  loop_callbacks cb;
  // Data parallel: every rank draws the same global batch and trains on its rows of it, so
  // the steps do not depend on the number of ranks (and a run resumes under another one).
  const int ranks = opt.dp ? opt.dp->size() : 1, rank = opt.dp ? opt.dp->rank() : 0;
  if (ranks > 1) opt.dp->attach(model.parameters(), static_cast<std::size_t>(tc.dp_bucket_kb) * 1024, tc.dp_overlap);
  cb.dp = opt.dp;
  cb.batch = [&](std::int64_t at) {
    data::batch b = data::sample_batch(data.train, B, T, seed, static_cast<std::uint64_t>(at));
    return step_batch{local_rows(to_tensor(b.inputs, B, T), rank, ranks), local_rows(to_tensor(b.targets, B, T), rank, ranks),
                      mix(seed ^ mix(static_cast<std::uint64_t>(at)))};
  };
  cb.after_step = [&](std::int64_t done, float lv) {
    sum.model_metrics = model.last_metrics();
    if (ranks > 1) add_step_stats(sum.dp_mean, opt.dp->last_stats());
    sum.losses.push_back(lv);
    step = done;
    train_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    tokens_run += B * T;
    recent += lv;
    ++recent_n;
    if (opt.progress && (tty || step % tc.log_every == 0 || step == end))
      progress_line(opt.progress, tty, step, tc.steps, lv, sched.at(step - 1), tokens_run / train_seconds,
                    100.0 * (tokens_run / train_seconds) * flops_tok / peak,
                    (end - step) * (train_seconds / static_cast<double>(step - sum.start_step)));
    const bool last = step == end;
    if ((tc.eval_every > 0 && step % tc.eval_every == 0) || (last && step == tc.steps)) {
      run_eval(step, recent / std::max(1, recent_n));
      recent = 0;
      recent_n = 0;
    }
    if ((tc.checkpoint_every > 0 && step % tc.checkpoint_every == 0) || last) save(step);
    t0 = clock::now();
  };
  train_steps(model, optim, sched, tc.grad_clip, step, end, cb);
  if (tty) std::fprintf(opt.progress, "\n");
  sum.dp_ranks = ranks;
  sum.end_step = step;
  sum.final_val_loss = last_val;
  finish_rates(sum, train_seconds, tokens_run, flops_tok, peak);
  return sum;
}

void train_steps(models::causal_lm& model, adamw& optim, const lr_schedule& sched, double grad_clip, std::int64_t start,
                 std::int64_t end, const loop_callbacks& cb) {
  const std::vector<tensor> params = model.parameters();
  data_parallel* dp = cb.dp && cb.dp->size() > 1 ? cb.dp : nullptr;
  for (std::int64_t step = start; step < end; ++step) {
    step_batch b = cb.batch(step);
    if (dp) dp->begin_step();
    model.set_dropout_seed(b.dropout_seed);
    optim.zero_grad();
    tensor loss = model.loss(b.inputs, b.targets);
    float lv = static_cast<float>(loss.item());
    LMLAB_CHECK_HINT(std::isfinite(lv), "lower train.lr or raise train.warmup_steps", "train: loss is {} at step {}", lv, step);
    if (dp) {
      leaf_ready_scope hook([dp](tensor_impl& leaf) { dp->grad_ready(leaf); });
      backward(loss);
      lv = dp->finish_step(lv);  // gradients averaged over ranks; the mean loss
    } else {
      backward(loss);
    }
    if (cb.after_backward) cb.after_backward();
    clip_grad_norm(params, grad_clip);
    optim.step(sched.at(step));
    if (cb.after_step) cb.after_step(step + 1, lv);
  }
}

prepared_data open_prepared_data(const data_config& d, std::FILE* log) {
  std::string tag = d.corpus + "-" + d.tokenizer + (d.val_every == 10 ? "" : fmt::format("-v{}", d.val_every));
  for (char& ch : tag)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  const fs::path dir = d.prepared_dir.empty() ? cache_dir() / "prepared" / tag : fs::path(d.prepared_dir);
  if (!fs::exists(dir / "meta.json") || !fs::exists(dir / "train.bin") || !fs::exists(dir / "val.bin")) {
    if (log) std::fprintf(log, "preparing %s with tokenizer %s into %s\n", d.corpus.c_str(), d.tokenizer.c_str(), dir.c_str());
    auto docs = data::load_corpus(d.corpus, true);
    data::prepare_options po;
    po.tokenizer = d.tokenizer;
    po.val_every = d.val_every;
    data::prepare(docs, d.corpus, po, dir, [&](const std::string& s) {
      if (log) std::fprintf(log, "%s\n", s.c_str());
    });
  }
  return {dir, data::token_file(dir / "train.bin"), data::token_file(dir / "val.bin"),
          data::load_tokenizer(dir / "tokenizer.json")};
}

}  // namespace lmlab::train

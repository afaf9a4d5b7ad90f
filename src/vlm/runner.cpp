// The VLM lab's runner: task schema, the three training stages, QA / POPE / VCD evaluation.
// See runner.hpp.
#include "vlm/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "ops/ops.hpp"
#include "store/results_store.hpp"
#include "tasks/registry.hpp"
#include "train/optim.hpp"
#include "vlm/checkpoint.hpp"
#include "vlm/pope.hpp"
#include "vlm/stage.hpp"
#include "vlm/vcd.hpp"

namespace lmlab::vlm {

// ---- the task's parameters ----------------------------------------------------------------

namespace {
const tasks::param_table<vlm_task>& task_table() {
  const double inf = std::numeric_limits<double>::infinity();
  static const auto t = tasks::param_table<vlm_task>("vlm_pope")
        .add("canvas", &vlm_task::canvas, "image side in pixels", 4, 256)
        .add("grid", &vlm_task::grid, "cells per side (one object per cell)", 1, 64)
        .add("n_classes", &vlm_task::n_classes, "shape classes (partners 2k, 2k+1 co-occur)", 2, k_max_classes)
        .add("n_colours", &vlm_task::n_colours, "colours", 1, k_max_colours)
        .add("min_objects", &vlm_task::min_objects, "fewest objects per scene", 1, k_max_classes)
        .add("max_objects", &vlm_task::max_objects, "most objects per scene", 1, k_max_classes)
        .add("popularity", &vlm_task::popularity, "Zipf exponent of class frequency (0: uniform)", 0, 10)
        .add("cooccur", &vlm_task::cooccur, "P(next object is the partner of one present)", 0, 1)
        .add("noise", &vlm_task::noise, "pixel noise std", 0, 1)
        .add("train_scenes", &vlm_task::train_scenes, "training scenes (a fixed pool)", 16, 1e7)
        .add("test_scenes", &vlm_task::test_scenes, "held-out scenes for QA and POPE", 1, 1e6)
        .add_keys(add_vit_keys<vlm_task>, "ViT width")
        .add("projector", &vlm_task::projector, "vision-language projector", -inf, inf, {"linear", "mlp", "resampler", "pixel_shuffle"})
        .add("image_tokens", &vlm_task::image_tokens, "image tokens per image (pooling / pixel shuffle / resampler queries)", 1, 4096)
        .add("resampler_heads", &vlm_task::resampler_heads, "resampler attention heads", 1, 64)
        .add("clip_steps", &vlm_task::clip_steps, "stage 1: contrastive steps", 0, 1e9)
        .add("align_steps", &vlm_task::align_steps, "stage 2: caption alignment steps", 0, 1e9)
        .add("tune_vision", &vlm_task::tune_vision, "train the ViT in the alignment and QA stages too")
        .add("exist_share", &vlm_task::exist_share, "share of existence questions in QA training (rest: colour, relation)", 0, 1)
        .add("pope_per_image", &vlm_task::pope_per_image, "POPE positives (and negatives) per image", 1, k_max_classes)
        .add("vcd_alpha", &vlm_task::vcd_alpha, "VCD contrast strength alpha", 0, 100)
        .add("vcd_beta", &vlm_task::vcd_beta, "VCD plausibility cut beta", 0, 1)
        .add("vcd_noise_step", &vlm_task::vcd_noise_step, "VCD distortion: diffusion step of 1000", 0, 1000);
  return t;
}
}  // namespace

void check(const vlm_task& t) {
  const auto at_key = [](const char* key, const auto& f) {
    try {
      f();
    } catch (const tasks::param_error&) {
      throw;
    } catch (const lmlab::error& e) {
      throw tasks::param_error(key, e.what(), e.hint());
    }
  };
  at_key("max_objects", [&] { t.scenes().validate("vlm_pope"); });
  at_key("patch", [&] { LMLAB_CHECK(t.canvas % t.patch == 0, "vlm_pope: patch {} does not divide canvas {}", t.patch, t.canvas); });
  at_key("vit_heads", [&] { LMLAB_CHECK(t.vit_d % t.vit_heads == 0, "vlm_pope: vit_heads {} does not divide vit_d {}", t.vit_heads, t.vit_d); });
  at_key("image_tokens", [&] {
    projector_spec s{projector_from_name(t.projector, "vlm_pope.projector"), t.vit_d, 8, t.canvas / t.patch, t.image_tokens,
                     t.resampler_heads, 0};
    s.validate("vlm_pope");
  });
}

vlm_task read_vlm_task(const nlohmann::json& j) {
  vlm_task t = task_table().read(j, {"name"});
  check(t);
  return t;
}

nlohmann::json write_vlm_task(const vlm_task& t) { return task_table().write(t); }

// ---- batches ------------------------------------------------------------------------------

namespace {

constexpr std::int32_t k_ignore = -100;

// Token rows, right-padded, with one target per row at given positions (the LM sees the K
// image tokens first, so position p of the text is K + p of the sequence).
struct text_batch {
  tensor ids;      // (B, T)
  tensor targets;  // (B * (K + T)), k_ignore except the scored positions
};

// rows[b] = the text; scored[b] = (position in the text, target id) pairs.
text_batch make_batch(const std::vector<std::vector<std::int32_t>>& rows,
                      const std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>>& scored, std::int64_t K) {
  const auto B = static_cast<std::int64_t>(rows.size());
  std::int64_t T = 1;
  for (const auto& r : rows) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(r.size()));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(B * T), k_pad), tg(static_cast<std::size_t>(B * (K + T)), k_ignore);
  for (std::int64_t b = 0; b < B; ++b) {
    std::copy(rows[b].begin(), rows[b].end(), ids.begin() + b * T);
    for (const auto& [p, id] : scored[static_cast<std::size_t>(b)]) tg[static_cast<std::size_t>(b * (K + T) + K + p)] = id;
  }
  return {tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(ids)),
          tensor::from<std::int32_t>({B * (K + T)}, std::span<const std::int32_t>(tg))};
}

// A QA example: the question's words, scored at its last word ("?") against the answer.
void add_qa(const qa& q, std::vector<std::vector<std::int32_t>>& rows, std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>>& sc) {
  rows.push_back(encode_words(q.question));
  sc.push_back({{static_cast<std::int64_t>(rows.back().size()) - 1, word_id(q.answer)}});
}

// A caption example: <bos> words; each position predicts the next word, the last <eos>.
void add_caption(const scene& s, std::vector<std::vector<std::int32_t>>& rows,
                 std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>>& sc) {
  std::vector<std::int32_t> w = encode_words("<bos> " + caption(s));
  std::vector<std::pair<std::int64_t, std::int32_t>> t;
  for (std::size_t i = 0; i < w.size(); ++i) t.emplace_back(static_cast<std::int64_t>(i), i + 1 < w.size() ? w[i + 1] : word_id("<eos>"));
  rows.push_back(std::move(w));
  sc.push_back(std::move(t));
}

// images (n, 3, S, S) of the scenes at `idx`.
tensor stack_images(const std::vector<scene>& pool, const std::vector<std::int64_t>& idx) {
  const shape_t& s = pool[0].image.shape();
  tensor out = tensor::empty({static_cast<std::int64_t>(idx.size()), s[0], s[1], s[2]});
  for (std::size_t i = 0; i < idx.size(); ++i) out.narrow_raw(0, static_cast<std::int64_t>(i), 1).copy_from(pool[static_cast<std::size_t>(idx[i])].image.view_raw({1, s[0], s[1], s[2]}));
  return out;
}

// rows of `feats` (n, N, d) at `idx`.
tensor gather_rows(const tensor& feats, const std::vector<std::int64_t>& idx) {
  tensor out = tensor::empty({static_cast<std::int64_t>(idx.size()), feats.size(1), feats.size(2)});
  for (std::size_t i = 0; i < idx.size(); ++i) out.narrow_raw(0, static_cast<std::int64_t>(i), 1).copy_from(feats.narrow_raw(0, idx[i], 1));
  return out;
}

std::vector<std::int64_t> draw_indices(std::int64_t n, std::int64_t B, rng& g) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(B));
  for (auto& i : idx) i = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(n)));
  return idx;
}

// ---- stages -------------------------------------------------------------------------------

nn::named_tensors params_with_prefix(const nn::module& m, const std::vector<std::string>& prefixes) {
  nn::named_tensors out;
  for (const auto& [n, t] : m.named_parameters())
    for (const auto& p : prefixes)
      if (n.rfind(p, 0) == 0) {
        out.emplace_back(n, t);
        break;
      }
  return out;
}

tensor lm_loss(vlm_model& m, const tensor& feats, const text_batch& b) {
  tensor logits = m.logits(feats, b.ids);
  return cross_entropy(reshape(logits, {b.targets.numel(), logits.size(2)}), b.targets, k_ignore);
}

// ViT features of every scene in `pool` (no autograd), in chunks.
tensor encode_pool(vlm_model& m, const std::vector<scene>& pool, bool distorted, const vlm_task& t, std::uint64_t seed) {
  no_grad ng;
  const auto n = static_cast<std::int64_t>(pool.size());
  tensor out;
  for (std::int64_t lo = 0; lo < n; lo += 256) {
    std::vector<std::int64_t> idx;
    for (std::int64_t i = lo; i < std::min(n, lo + 256); ++i) idx.push_back(i);
    tensor img = stack_images(pool, idx);
    if (distorted) img = diffuse(img, t.vcd_noise_step, seed, 0xD1F + static_cast<std::uint64_t>(lo));
    tensor f = m.vision.forward(img);
    if (!out.defined()) out = tensor::empty({n, f.size(1), f.size(2)});
    out.narrow_raw(0, lo, static_cast<std::int64_t>(idx.size())).copy_from(f);
  }
  return out;
}

// ---- evaluation ---------------------------------------------------------------------------

// Logits at each row's scored position: (n, V), for questions asked of scenes `idx`.
tensor answer_logits(vlm_model& m, const tensor& feats, const std::vector<std::int64_t>& idx, const std::vector<qa>& qs) {
  no_grad ng;
  const std::int64_t K = m.image_tokens(), V = m.cfg.lm.vocab_size;
  tensor out = tensor::empty({static_cast<std::int64_t>(qs.size()), V});
  for (std::size_t lo = 0; lo < qs.size(); lo += 256) {
    const std::size_t hi = std::min(qs.size(), lo + 256);
    std::vector<std::vector<std::int32_t>> rows;
    std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>> sc;
    for (std::size_t i = lo; i < hi; ++i) add_qa(qs[i], rows, sc);
    const text_batch b = make_batch(rows, sc, K);
    tensor lg = m.logits(gather_rows(feats, std::vector<std::int64_t>(idx.begin() + static_cast<std::ptrdiff_t>(lo), idx.begin() + static_cast<std::ptrdiff_t>(hi))), b.ids);
    for (std::size_t i = lo; i < hi; ++i) {
      const auto p = K + static_cast<std::int64_t>(rows[i - lo].size()) - 1;
      out.narrow_raw(0, static_cast<std::int64_t>(i), 1).copy_from(lg.narrow_raw(0, static_cast<std::int64_t>(i - lo), 1).narrow_raw(1, p, 1).view_raw({1, V}));
    }
  }
  return out;
}

std::vector<std::int32_t> argmax_rows(const tensor& logits) {
  const std::int64_t N = logits.size(0), V = logits.size(1);
  const std::vector<double> v = logits.to_vector();
  std::vector<std::int32_t> out(static_cast<std::size_t>(N));
  for (std::int64_t n = 0; n < N; ++n)
    out[static_cast<std::size_t>(n)] = static_cast<std::int32_t>(std::max_element(v.begin() + n * V, v.begin() + (n + 1) * V) - (v.begin() + n * V));
  return out;
}

struct eval_out {
  std::string slice, metric;
  double value;
  std::int64_t n;
};

void eval_qa(vlm_model& m, const tensor& feats, const std::vector<scene>& test, const scene_config& sc, std::uint64_t seed,
             std::vector<eval_out>& out) {
  double total = 0;
  for (const qa_kind k : {qa_kind::exist, qa_kind::colour, qa_kind::relation}) {
    std::vector<qa> qs;
    std::vector<std::int64_t> idx;
    for (std::size_t i = 0; i < test.size(); ++i) {
      rng g = rng(seed, 0xE7A1 + static_cast<std::uint64_t>(k)).fork(i);
      qs.push_back(make_question(test[i], k, sc, g));
      idx.push_back(static_cast<std::int64_t>(i));
    }
    const auto pred = argmax_rows(answer_logits(m, feats, idx, qs));
    std::int64_t ok = 0;
    for (std::size_t i = 0; i < qs.size(); ++i) ok += pred[i] == word_id(qs[i].answer);
    const double acc = static_cast<double>(ok) / static_cast<double>(qs.size());
    out.push_back({qa_kind_name(k), "accuracy", acc, static_cast<std::int64_t>(qs.size())});
    total += acc;
  }
  out.push_back({"all", "accuracy", total / 3, static_cast<std::int64_t>(3 * test.size())});
}

pope_metrics log_pope(const std::string& slice, const pope_counts& c, std::vector<eval_out>& out) {
  const pope_metrics pm = pope_score(c);
  for (const auto& [name, v] : std::vector<std::pair<const char*, double>>{
           {"accuracy", pm.accuracy}, {"precision", pm.precision}, {"recall", pm.recall}, {"f1", pm.f1}, {"yes_ratio", pm.yes_ratio}})
    out.push_back({slice, name, v, c.total()});
  return pm;
}

void eval_pope(vlm_model& m, const tensor& feats, const tensor& distorted, const std::vector<scene>& test, const object_stats& stats,
               const vlm_task& t, std::uint64_t seed, std::vector<eval_out>& out) {
  const std::int32_t yes = word_id("yes");
  double f1_random = 0, f1_popular = 0;
  for (const pope_setting st : pope_settings()) {
    std::vector<qa> qs;
    std::vector<std::int64_t> idx;
    for (std::size_t i = 0; i < test.size(); ++i) {
      rng g = rng(seed, 0x90BE).fork(i);
      for (const auto& pq : pope_questions(test[i].objects, st, stats, t.n_classes, t.pope_per_image, g)) {
        qs.push_back(exist_question(test[i], pq.cls));
        idx.push_back(static_cast<std::int64_t>(i));
      }
    }
    const tensor lg = answer_logits(m, feats, idx, qs);
    const auto plain = argmax_rows(lg);
    const auto vcd = argmax_rows(vcd_logits(lg, answer_logits(m, distorted, idx, qs), t.vcd_alpha, t.vcd_beta));
    pope_counts c, cv;
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const bool truth = qs[i].answer == "yes";
      c.add(truth, plain[i] == yes);
      cv.add(truth, vcd[i] == yes);
    }
    const std::string name = pope_setting_name(st);
    const double f1 = log_pope(name, c, out).f1, f1_vcd = log_pope("vcd_" + name, cv, out).f1;
    // Paired differences within the run (same model, same questions), so that [expect] rules
    // read a per-seed difference: the F1 lost against random negatives, the F1 adversarial
    // negatives cost beyond popular ones (POPE's "adversarial is hardest"), and VCD's F1 gain.
    if (st == pope_setting::random) f1_random = f1;
    else out.push_back({name, "f1_drop", f1_random - f1, c.total()});
    if (st == pope_setting::popular) f1_popular = f1;
    if (st == pope_setting::adversarial) out.push_back({name, "f1_drop_from_popular", f1_popular - f1, c.total()});
    out.push_back({name, "vcd_f1_gain", f1_vcd - f1, c.total()});
  }
}

}  // namespace

vlm_config vlm_model_config(const vlm_task& t, const nlohmann::json& model_json) {
  vlm_config c;
  c.canvas = t.canvas;
  c.vision = vit_of(t);
  c.proj.kind = projector_from_name(t.projector, "task.projector");
  c.proj.tokens = t.image_tokens;
  c.proj.heads = t.resampler_heads;
  nlohmann::json mj = lab::lm_model_json(model_json);
  mj["vocab_size"] = static_cast<std::int64_t>(vocabulary().size());
  // Longest text: a caption of max_objects objects (3 words each) plus <bos>, or a relation question (8).
  const std::int64_t longest = std::max<std::int64_t>(8, 3 * t.max_objects + 1);
  if (!mj.contains("n_ctx")) mj["n_ctx"] = t.image_tokens + longest;
  c.lm = models::lm_config_from_json(mj, "model");
  LMLAB_CHECK_HINT(c.lm.n_ctx >= t.image_tokens + longest, "leave model.n_ctx out (it is set from the task)",
                   "model.n_ctx: {} is shorter than image tokens + text ({} + {})", c.lm.n_ctx, t.image_tokens, longest);
  c.d_clip = t.vit_d;
  return c;
}

namespace {
double pope_value(const std::vector<eval_out>& ev, const std::string& slice, const std::string& metric) {
  for (const auto& e : ev)
    if (e.slice == slice && e.metric == metric) return e.value;
  return std::nan("");
}
}  // namespace

// ---- the run ------------------------------------------------------------------------------

lab::run_result run_vlm(const lab::run_context& ctx) { return run_vlm(ctx, {}); }

lab::run_result run_vlm(const lab::run_context& ctx, const std::filesystem::path& save_to) {
  const auto t0 = std::chrono::steady_clock::now();
  const vlm_task t = read_vlm_task(ctx.config.at("task"));
  const scene_config sc = t.scenes();
  const nlohmann::json tj = ctx.config.value("train", nlohmann::json::object());
  const train::optim_config oc = lab::shared_train_keys(tj);
  const std::int64_t qa_steps = tj.value("steps", std::int64_t{0});
  const std::uint64_t seed = ctx.seed;
  std::vector<scene> pool, test;
  for (std::int64_t i = 0; i < t.train_scenes; ++i) pool.push_back(make_scene(sc, seed, static_cast<std::uint64_t>(i)));
  for (std::int64_t i = 0; i < t.test_scenes; ++i) test.push_back(make_scene(sc, seed, (1ull << 40) + static_cast<std::uint64_t>(i)));
  vlm_model m(vlm_model_config(t, ctx.config.value("model", nlohmann::json::object())), seed);
  const std::int64_t B = oc.batch_size, K = m.image_tokens();

  // Stage 1: CLIP on (image, caption).
  const double clip = run_stage(params_with_prefix(m, {"vision.", "clip_", "text.", "log_scale"}), {t.clip_steps, B, oc, seed, 1},
                                [&](rng& g) {
                                  const auto idx = draw_indices(t.train_scenes, B, g);
                                  std::vector<std::vector<std::int32_t>> rows;
                                  std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>> sc2;
                                  for (const auto i : idx) add_caption(pool[static_cast<std::size_t>(i)], rows, sc2);
                                  const text_batch b = make_batch(rows, sc2, 0);
                                  return clip_loss(m.image_embedding(m.vision.forward(stack_images(pool, idx))), m.text_embedding(b.ids), m.log_scale);
                                });
  // The frozen ViT's features, once; or the trained ViT's on each batch.
  const tensor feats = t.tune_vision ? tensor() : encode_pool(m, pool, false, t, seed);
  const auto features = [&](const std::vector<std::int64_t>& idx) {
    return t.tune_vision ? m.vision.forward(stack_images(pool, idx)) : gather_rows(feats, idx);
  };
  const nn::named_tensors lm_params =
      params_with_prefix(m, t.tune_vision ? std::vector<std::string>{"proj.", "lm.", "vision."} : std::vector<std::string>{"proj.", "lm."});
  // Stage 2: captioning on the frozen features.
  const double align = run_stage(lm_params, {t.align_steps, B, oc, seed, 2}, [&](rng& g) {
    const auto idx = draw_indices(t.train_scenes, B, g);
    std::vector<std::vector<std::int32_t>> rows;
    std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>> sc2;
    for (const auto i : idx) add_caption(pool[static_cast<std::size_t>(i)], rows, sc2);
    return lm_loss(m, features(idx), make_batch(rows, sc2, K));
  });
  // Stage 3: QA.
  const double qa_loss = run_stage(lm_params, {qa_steps, B, oc, seed, 3}, [&](rng& g) {
    const auto idx = draw_indices(t.train_scenes, B, g);
    std::vector<std::vector<std::int32_t>> rows;
    std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>> sc2;
    for (const auto i : idx) {
      const double u = g.uniform();
      const qa_kind k = u < t.exist_share ? qa_kind::exist : u < t.exist_share + (1 - t.exist_share) / 2 ? qa_kind::colour : qa_kind::relation;
      add_qa(make_question(pool[static_cast<std::size_t>(i)], k, sc, g), rows, sc2);
    }
    return lm_loss(m, features(idx), make_batch(rows, sc2, K));
  });

  m.eval();
  if (!save_to.empty()) save_vlm(save_to, m, t, ctx.config.value("model", nlohmann::json::object()));
  // Evaluation on held-out scenes.
  std::vector<eval_out> ev;
  const tensor tf = encode_pool(m, test, false, t, seed), td = encode_pool(m, test, true, t, seed);
  eval_qa(m, tf, test, sc, seed, ev);
  std::vector<std::vector<object>> ann;
  for (const auto& s : pool) ann.push_back(s.objects);
  eval_pope(m, tf, td, test, count_objects(ann, t.n_classes), t, seed, ev);

  lab::run_result r;
  r.final_train_loss = qa_loss;
  r.steps = t.clip_steps + t.align_steps + qa_steps;
  r.n_params = m.num_parameters();
  r.test_accuracy = ev[3].value;  // QA "all"
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& e : ev) ctx.log_eval(e.slice, e.metric, e.value, e.n);
  ctx.log_metrics(r.steps, {{"clip_loss", clip},
                           {"align_loss", align},
                           {"final_train_loss", qa_loss},
                           {"n_params", static_cast<double>(r.n_params)},
                           {"steps", static_cast<double>(r.steps)},
                           {"image_tokens", static_cast<double>(K)},
                           {"seconds", r.seconds}});
  if (ctx.progress)
    std::fprintf(ctx.progress, "vlm: clip %.3f align %.3f qa %.3f; QA accuracy %.3f; POPE F1 random %.3f popular %.3f adversarial %.3f\n",
                 clip, align, qa_loss, r.test_accuracy, pope_value(ev, "random", "f1"), pope_value(ev, "popular", "f1"),
                 pope_value(ev, "adversarial", "f1"));
  return r;
}

void register_lab() {
  tasks::register_once([] {
    lab::register_lab_task(
        "vlm_pope", "tiny VLM on synthetic scenes: CLIP, alignment and QA training; QA, POPE and VCD evaluation (lab runner, src/vlm)",
        task_table(), [](const lab::run_context& c) { return run_vlm(c); });
  });
}

}  // namespace lmlab::vlm

// Contrastive training on Fashion-MNIST and Noto emoji: see real_clip.hpp.
#include "vlm/real_clip.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "lab/run.hpp"
#include "lab/runner.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"
#include "tasks/registry.hpp"
#include "vlm/emoji.hpp"
#include "vlm/fashion_mnist.hpp"
#include "vlm/model.hpp"
#include "vlm/stage.hpp"

namespace lmlab::vlm {

namespace {

const tasks::param_table<clip_real_task>& task_table() {
  const double inf = std::numeric_limits<double>::infinity();
  static const auto t = tasks::param_table<clip_real_task>("vlm_clip_real")
        .add("dataset", &clip_real_task::dataset, "real images: Fashion-MNIST or Noto colour emoji", -inf, inf, {"fashion", "emoji"})
        .add("side", &clip_real_task::side, "image side in pixels (fashion: 28)", 4, 256)
        .add_keys(add_vit_keys<clip_real_task>, "ViT width (and the CLIP embedding width)")
        .add("train_items", &clip_real_task::train_items, "fashion: training images (first of the train split)", 16, 60000)
        .add("test_items", &clip_real_task::test_items, "fashion: test images (first of the test split)", 10, 10000)
        .add("test_share", &clip_real_task::test_share, "emoji: share of the emoji held out", 0.01, 0.9);
  return t;
}

// The ViT, its CLIP head, the text tower and its head, and the temperature (model.hpp's pieces
// without the projector and LM).
class clip_net : public nn::module {
 public:
  clip_net(const clip_real_task& t, std::int64_t vocab, std::uint64_t seed)
      : vision(vit_of(t), t.side),
        image_head(t.vit_d, t.vit_d),
        text(vocab, t.vit_d),
        text_head(t.vit_d, t.vit_d) {
    register_module("vision", vision);
    register_module("clip_image_head", image_head);
    register_module("text", text);
    register_module("clip_text_head", text_head);
    log_scale = register_parameter("log_scale", tensor::full({}, std::log(1 / 0.07)));  // ref: Radford et al. 2021 sec. 2.5
    finalize_names();
    for (auto& [name, w] : named_parameters()) {  // vlm_model's initialisation
      if (w.dim() < 2) continue;
      const double std = name == "vision.pos" || name == "text.emb.weight" ? 0.02 * 25 : 1.0 / std::sqrt(static_cast<double>(w.size(1)));
      nn::init_normal(w, 0.0, std, seed, nn::stream_of(name));
    }
  }
  tensor image_embedding(const tensor& images) const { return image_head.forward(mean(vision.forward(images), {1})); }
  tensor text_embedding(const tensor& ids) const { return text_head.forward(text.forward(ids)); }
  vit vision;
  nn::linear image_head;
  text_tower text;
  nn::linear text_head;
  tensor log_scale;
};

// Images with one caption each (word ids; 0 <pad>, 1 <unk>).
struct item_set {
  tensor images;  // (n, 3, S, S)
  std::vector<std::vector<std::int32_t>> captions;
  std::vector<std::int32_t> label;  // fashion: class; emoji: unused
  std::int64_t size() const { return images.size(0); }
};

struct word_vocab {
  std::map<std::string, std::int32_t> ids;
  std::vector<std::int32_t> encode(const std::string& text, bool grow) {
    std::vector<std::int32_t> out;
    for (const auto& w : name_words(text)) {
      auto it = ids.find(w);
      if (it == ids.end() && grow) it = ids.emplace(w, static_cast<std::int32_t>(ids.size()) + 2).first;
      out.push_back(it == ids.end() ? 1 : it->second);
    }
    if (out.empty()) out.push_back(1);
    return out;
  }
  std::int64_t size() const { return static_cast<std::int64_t>(ids.size()) + 2; }
};

tensor rows_of(const tensor& x, const std::vector<std::int64_t>& idx) {
  shape_t s = x.shape();
  s[0] = static_cast<std::int64_t>(idx.size());
  tensor out = tensor::empty(s);
  for (std::size_t i = 0; i < idx.size(); ++i) out.narrow_raw(0, static_cast<std::int64_t>(i), 1).copy_from(x.narrow_raw(0, idx[i], 1));
  return out;
}

tensor pad_ids(const std::vector<std::vector<std::int32_t>>& rows) {
  std::size_t T = 1;
  for (const auto& r : rows) T = std::max(T, r.size());
  std::vector<std::int32_t> ids(rows.size() * T, 0);
  for (std::size_t b = 0; b < rows.size(); ++b) std::copy(rows[b].begin(), rows[b].end(), ids.begin() + static_cast<std::ptrdiff_t>(b * T));
  return tensor::from<std::int32_t>({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(T)},
                                    std::span<const std::int32_t>(ids));
}

// Fashion: train and test images, captions the class names (the vocabulary grows on them).
void fashion_sets(const clip_real_task& t, word_vocab& v, item_set& train, item_set& test) {
  for (auto* s : {&train, &test}) {
    const labelled_images li = load_fashion_mnist(s == &train ? "train" : "test", s == &train ? t.train_items : t.test_items);
    s->images = li.images;
    s->label = li.labels;
    for (const auto y : li.labels) s->captions.push_back(v.encode(fashion_class_names()[static_cast<std::size_t>(y)], true));
  }
}

// Emoji: a seeded shuffle splits them; the vocabulary grows on the training names only.
void emoji_sets(const clip_real_task& t, std::uint64_t seed, word_vocab& v, item_set& train, item_set& test) {
  const auto all = load_emoji(t.side);
  std::vector<std::int64_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  rng g(seed, 0xE30);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
  const auto n_test = std::max<std::size_t>(2, static_cast<std::size_t>(std::lround(t.test_share * static_cast<double>(all.size()))));
  LMLAB_CHECK(n_test + 2 <= all.size(), "vlm_clip_real: test_share {} leaves too few training emoji", t.test_share);
  for (auto* s : {&train, &test}) {
    const bool tr = s == &train;
    const std::size_t lo = tr ? n_test : 0, hi = tr ? all.size() : n_test;
    s->images = tensor::empty({static_cast<std::int64_t>(hi - lo), 3, t.side, t.side});
    for (std::size_t i = lo; i < hi; ++i) {
      const auto& e = all[static_cast<std::size_t>(order[i])];
      s->images.narrow_raw(0, static_cast<std::int64_t>(i - lo), 1).copy_from(e.image.view_raw({1, 3, t.side, t.side}));
      s->captions.push_back(v.encode(e.name.name, tr));
    }
  }
}

// Cosine similarities (n_images, n_texts) of the model's CLIP embeddings, as a flat vector.
std::vector<double> similarities(const clip_net& m, const tensor& images, const std::vector<std::vector<std::int32_t>>& captions) {
  no_grad ng;
  tensor img = l2_normalize_rows(m.image_embedding(images)), txt = l2_normalize_rows(m.text_embedding(pad_ids(captions)));
  return matmul(img, contiguous(transpose(txt, 0, 1))).to_vector();
}

}  // namespace

void check(const clip_real_task& t) {
  LMLAB_CHECK(t.side % t.patch == 0, "vlm_clip_real.patch: {} does not divide side {}", t.patch, t.side);
  LMLAB_CHECK(t.vit_d % t.vit_heads == 0, "vlm_clip_real.vit_heads: {} does not divide vit_d {}", t.vit_heads, t.vit_d);
  LMLAB_CHECK(t.dataset != "fashion" || t.side == 28, "vlm_clip_real.side: Fashion-MNIST images are 28 pixels, not {}", t.side);
}

namespace {

struct scored {
  std::string slice, metric;
  double value;
  std::int64_t n;
};

// Nearest class name (cosine) for the first `n` items of `s`: accuracy.
void eval_classes(const clip_net& m, word_vocab& v, const item_set& s, std::int64_t n, const std::string& slice, std::vector<scored>& out) {
  n = std::min(n, s.size());
  std::vector<std::vector<std::int32_t>> names;
  for (const auto& c : fashion_class_names()) names.push_back(v.encode(c, false));
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
  const auto sim = similarities(m, rows_of(s.images, idx), names);
  const auto C = static_cast<std::ptrdiff_t>(names.size());
  std::int64_t ok = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto row = sim.begin() + i * C;
    ok += std::max_element(row, row + C) - row == s.label[static_cast<std::size_t>(i)];
  }
  out.push_back({slice, "accuracy", static_cast<double>(ok) / static_cast<double>(n), n});
}

// The pixel baseline the learned features must beat: nearest class mean of the training
// images' pixels (cosine), over the first `n` items of `s`.
double centroid_accuracy(const item_set& train, const item_set& s, std::int64_t n) {
  const std::int64_t D = train.images.numel() / train.size(), C = static_cast<std::int64_t>(fashion_class_names().size());
  const std::vector<double> tr = train.images.to_vector(), ev = s.images.to_vector();
  std::vector<double> mean(static_cast<std::size_t>(C * D), 0.0);
  for (std::int64_t i = 0; i < train.size(); ++i)
    for (std::int64_t k = 0; k < D; ++k)
      mean[static_cast<std::size_t>(train.label[static_cast<std::size_t>(i)] * D + k)] += tr[static_cast<std::size_t>(i * D + k)];
  std::vector<double> norm(static_cast<std::size_t>(C), 0.0);
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t k = 0; k < D; ++k)
      norm[static_cast<std::size_t>(c)] += mean[static_cast<std::size_t>(c * D + k)] * mean[static_cast<std::size_t>(c * D + k)];
  std::int64_t ok = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    double best_cos = -2;
    for (std::int64_t c = 0; c < C; ++c) {
      double dot = 0;
      for (std::int64_t k = 0; k < D; ++k) dot += mean[static_cast<std::size_t>(c * D + k)] * ev[static_cast<std::size_t>(i * D + k)];
      const double cos = dot / std::sqrt(norm[static_cast<std::size_t>(c)] + 1e-12);  // the image's own norm does not change the argmax
      if (cos > best_cos) best_cos = cos, best = c;
    }
    ok += best == s.label[static_cast<std::size_t>(i)];
  }
  return static_cast<double>(ok) / static_cast<double>(n);
}

// Retrieval among the first `n` items of `s`: image -> its own caption among the n captions
// (top-1, top-5) and caption -> its own image (top-1). Ties count against the item.
void eval_retrieval(const clip_net& m, const item_set& s, std::int64_t n, const std::string& slice, std::vector<scored>& out) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
  const auto sim =
      similarities(m, rows_of(s.images, idx), std::vector<std::vector<std::int32_t>>(s.captions.begin(), s.captions.begin() + n));
  std::int64_t top1 = 0, top5 = 0, text1 = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t above_row = 0, above_col = 0;
    const double self = sim[static_cast<std::size_t>(i * n + i)];
    for (std::int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      above_row += sim[static_cast<std::size_t>(i * n + j)] >= self;
      above_col += sim[static_cast<std::size_t>(j * n + i)] >= self;
    }
    top1 += above_row == 0;
    top5 += above_row < 5;
    text1 += above_col == 0;
  }
  const auto nd = static_cast<double>(n);
  for (const auto& [metric, v] : std::vector<std::pair<const char*, double>>{
           {"top1", top1 / nd}, {"top5", top5 / nd}, {"text_top1", text1 / nd}, {"chance", 1 / nd}, {"lift", (top1 / nd) / (1 / nd)}})
    out.push_back({slice, metric, v, n});
}

lab::run_result run_clip_real(const lab::run_context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  const clip_real_task t = task_table().read(ctx.config.at("task"), {"name"});
  check(t);
  const nlohmann::json tj = ctx.config.value("train", nlohmann::json::object());
  const train::optim_config oc = lab::shared_train_keys(tj);
  const std::int64_t steps = tj.value("steps", std::int64_t{0});
  word_vocab v;
  item_set train, test;
  if (t.dataset == "fashion")
    fashion_sets(t, v, train, test);
  else
    emoji_sets(t, ctx.seed, v, train, test);
  clip_net m(t, v.size(), ctx.seed);
  const double loss = run_stage(m.named_parameters(), {steps, oc.batch_size, oc, ctx.seed, 1}, [&](rng& g) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(oc.batch_size));
    std::vector<std::vector<std::int32_t>> caps;
    for (auto& i : idx) {
      i = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(train.size())));
      caps.push_back(train.captions[static_cast<std::size_t>(i)]);
    }
    return clip_loss(m.image_embedding(rows_of(train.images, idx)), m.text_embedding(pad_ids(caps)), m.log_scale);
  });
  m.eval();
  std::vector<scored> ev;
  if (t.dataset == "fashion") {
    eval_classes(m, v, train, test.size(), "train", ev);
    eval_classes(m, v, test, test.size(), "heldout", ev);
    const double base = centroid_accuracy(train, test, test.size());
    ev.push_back({"heldout", "centroid_accuracy", base, test.size()});
    ev.push_back({"heldout", "gain_over_centroid", ev[1].value - base, test.size()});  // paired within the run
  } else {
    eval_retrieval(m, train, std::min(train.size(), test.size()), "train", ev);
    eval_retrieval(m, test, test.size(), "heldout", ev);
  }
  lab::run_result r;
  r.final_train_loss = loss;
  r.steps = steps;
  r.n_params = m.num_parameters();
  r.test_accuracy = ev[t.dataset == "fashion" ? 1 : 5].value;  // heldout accuracy / top1
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& e : ev) ctx.log_eval(e.slice, e.metric, e.value, e.n);
  ctx.log_metrics(steps, {{"clip_loss", loss},
                          {"n_params", static_cast<double>(r.n_params)},
                          {"steps", static_cast<double>(steps)},
                          {"vocab", static_cast<double>(v.size())},
                          {"seconds", r.seconds}});
  if (ctx.progress)
    std::fprintf(ctx.progress, "vlm_clip_real %s: clip loss %.3f; train %.3f, held out %.3f (n %lld)\n", t.dataset.c_str(), loss,
                 ev[0].value, r.test_accuracy, static_cast<long long>(test.size()));
  return r;
}

}  // namespace

void register_clip_real() {
  tasks::register_once([] {
    lab::register_lab_task(
        "vlm_clip_real", "CLIP training on real images: Fashion-MNIST with class names, Noto emoji with CLDR names (lab runner, src/vlm)",
        task_table(), run_clip_real);
  });
}

}  // namespace lmlab::vlm

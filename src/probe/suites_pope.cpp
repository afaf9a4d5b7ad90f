// The `pope` suite: POPE (Li et al. 2023, "Evaluating Object Hallucination in Large
// Vision-Language Models", sec. 4) asked of a served VLM on the VLM lab's generated scenes
// (src/vlm/scene.hpp), so the measurement the lab makes on its own model applies unchanged to
// a llama.cpp or vLLM server (docs/probe.md "pope").
//   images    --n scenes (per setting) of the lab's vlm_pope distribution (24x24 canvas, 2x2 grid,
//             8 shape classes, Zipf popularity 1, co-occurrence 0.7), indices 2^41 + i of the
//             stream --seed (disjoint from any lab run's training and test scenes), upscaled
//             8x by pixel replication to 192x192 and sent as PNG data URIs (image_url parts);
//   questions "Is there a <object> in the image? Answer yes or no." (POPE's question, sec. 4.1,
//             with an instruction to answer in one word), the image's objects (at most 3) and
//             as many absent ones, sampled per setting: random, popular (most frequent in the
//             first 2,000 scenes of the stream), adversarial (most co-occurring with the
//             image's objects), as vlm/pope.hpp samples them for the lab;
//   answers   POPE's released parsing rule: the reply's first sentence, commas removed, split on
//             spaces; "no" or "not" among its words is a "no", anything else a "yes" (we also
//             lower-case the words and strip their trailing punctuation, so "No!" is a no);
//   metrics   per setting, accuracy, precision, recall, F1 and the yes ratio (sec. 4.2, Table
//             2's columns; "yes" the positive class), F1 with a percentile bootstrap 95% interval
//             over the questions, and f1_drop_<setting> = F1(random) - F1(setting).
// The shape classes are the lab's words except hbar / vbar, asked as "horizontal bar" /
// "vertical bar" (the lab VLM's chat template maps them back; serve/vlm_adapter.hpp).
// Not for: POPE's sampling and metrics themselves (vlm/pope.hpp), the scenes (vlm/scene.hpp).
#ifdef LMLAB_PROBE_HAS_VLM

#include <algorithm>
#include <cctype>
#include <map>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "probe/suites.hpp"
#include "vlm/image_io.hpp"
#include "vlm/pope.hpp"
#include "vlm/scene.hpp"

namespace lmlab::probe {
namespace {
using json = nlohmann::json;

constexpr std::int64_t k_upscale = 8;
constexpr std::int64_t k_per_image = 3;
constexpr std::uint64_t k_first_index = 1ull << 41;
constexpr std::uint64_t k_stats_scenes = 2000;

vlm::scene_config pope_scene_config() {
  vlm::scene_config c;  // the lab's defaults: grid 2, 8 classes, 4 colours, 1-3 objects, Zipf 1, co-occurrence 0.7
  c.canvas = 24;        // experiments/vlm_pope.toml's canvas
  return c;
}

// (3, S, S) -> (3, f S, f S) by pixel replication.
tensor upscale(const tensor& img, std::int64_t f) {
  const std::int64_t S = img.size(1), W = img.size(2);
  tensor out = tensor::empty({3, S * f, W * f});
  const float* src = img.data<float>();
  float* dst = out.data<float>();
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t y = 0; y < S * f; ++y)
      for (std::int64_t x = 0; x < W * f; ++x) dst[(c * S * f + y) * W * f + x] = src[(c * S + y / f) * W + x / f];
  return out;
}

class pope final : public suite {
 public:
  pope()
      : suite("pope",
              "POPE object hallucination on generated scenes (images as PNG data URIs): 'Is there a <object> in the image?' "
              "with absent objects sampled at random, by popularity and by co-occurrence; accuracy, precision, recall, F1 "
              "and yes ratio per setting (Li et al. 2023, sec. 4).") {}

  std::vector<item> build(const suite_options& opt) const override {
    LMLAB_CHECK_HINT(opt.n >= 1, "e.g. --n 40", "pope: --n (scenes per setting) must be at least 1, got {}", opt.n);
    const vlm::scene_config sc = pope_scene_config();
    std::vector<std::vector<vlm::object>> ann;
    for (std::uint64_t i = 0; i < k_stats_scenes; ++i) {
      rng g = rng(opt.seed, 0x5CE7E).fork(i);  // make_scene's stream, without rendering
      ann.push_back(vlm::draw_objects(sc, g));
    }
    const vlm::object_stats stats = vlm::count_objects(ann, sc.n_classes);
    std::vector<std::string> uris;
    std::vector<vlm::scene> scenes;
    for (int i = 0; i < opt.n; ++i) {
      scenes.push_back(vlm::make_scene(sc, opt.seed, k_first_index + static_cast<std::uint64_t>(i)));
      uris.push_back(vlm::png_data_uri(upscale(scenes.back().image, k_upscale)));
    }
    std::vector<item> items;
    for (const vlm::pope_setting st : vlm::pope_settings()) {
      const std::string setting = vlm::pope_setting_name(st);
      for (int i = 0; i < opt.n; ++i) {
        rng g = rng(opt.seed, 0x90BE).fork(static_cast<std::uint64_t>(i));
        const auto qs = vlm::pope_questions(scenes[static_cast<std::size_t>(i)].objects, st, stats, sc.n_classes, k_per_image, g);
        for (std::size_t k = 0; k < qs.size(); ++k) {
          const std::string object = object_words(qs[k].cls);
          item it;
          it.id = fmt::format("{}/s{}/q{}", setting, i, k);
          it.messages = {{"user", "Is there a " + object + " in the image? Answer yes or no.", {uris[static_cast<std::size_t>(i)]}}};
          it.target = qs[k].truth ? "yes" : "no";
          it.max_tokens = 16;
          it.seed = static_cast<std::int64_t>(opt.seed);
          it.doc = {{"setting", setting}, {"scene", k_first_index + static_cast<std::uint64_t>(i)}, {"seed", opt.seed},
                    {"object", object}, {"truth", qs[k].truth}, {"image_side", sc.canvas * k_upscale}};
          items.push_back(std::move(it));
        }
      }
    }
    return items;
  }

  void score_text(const item& it, const std::string& text, json& s) const override {
    const bool yes = said_yes(text);
    s["said_yes"] = yes;
    s["correct"] = yes == (it.target == "yes");
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    std::map<std::string, std::vector<std::pair<bool, bool>>> by;  // setting -> (truth, said yes)
    for (const auto& s : samples)
      if (s.contains("said_yes")) by[s["doc"]["setting"].get<std::string>()].emplace_back(s["doc"]["truth"].get<bool>(), s["said_yes"].get<bool>());
    std::map<std::string, double> f1;
    for (const auto& [setting, v] : by) {
      vlm::pope_counts c;
      for (const auto& [t, y] : v) c.add(t, y);
      const vlm::pope_metrics m = vlm::pope_score(c);
      const auto n = c.total();
      const std::string sl = "setting=" + setting;
      for (const auto& [k, x] : std::vector<std::pair<std::string, double>>{
               {"accuracy", m.accuracy}, {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"yes_ratio", m.yes_ratio}}) {
        r.slices.push_back({"test", sl, k, x, n});
        r.metrics[setting + "_" + k] = x;
      }
      // F1's 95% interval: percentile bootstrap over the questions (each coded 0..3 as (truth, yes)).
      std::vector<double> code;
      for (const auto& [t, y] : v) code.push_back(2.0 * t + y);
      analysis::bootstrap_options bo;
      bo.seed = 0xF1;
      bo.resamples = 2000;
      const auto ci = analysis::bootstrap_ci(code, [](std::span<const double> x) {
        vlm::pope_counts cc;
        for (const double d : x) cc.add(d >= 2, static_cast<int>(d) % 2 == 1);
        return vlm::pope_score(cc).f1;
      }, bo);
      r.metrics[setting + "_f1_ci95_lo"] = ci.lo;
      r.metrics[setting + "_f1_ci95_hi"] = ci.hi;
      r.metrics[setting + "_n"] = n;
      f1[setting] = m.f1;
    }
    if (f1.count("random"))
      for (const auto& [setting, x] : f1)
        if (setting != "random") r.metrics["f1_drop_" + setting] = f1["random"] - x;
    return r;
  }

  // POPE's parsing (see the file header).
  static bool said_yes(const std::string& text) {
    std::string first = text.substr(0, text.find('.'));
    first.erase(std::remove(first.begin(), first.end(), ','), first.end());
    std::string w;
    const auto is_no = [&] {
      while (!w.empty() && std::ispunct(static_cast<unsigned char>(w.back()))) w.pop_back();
      return w == "no" || w == "not";
    };
    for (const char ch : first + " ") {
      if (std::isspace(static_cast<unsigned char>(ch))) {
        if (is_no()) return false;
        w.clear();
      } else {
        w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
      }
    }
    return true;
  }

  static std::string object_words(std::int32_t cls) {
    const std::string& w = vlm::class_name(cls);
    if (w == "hbar") return "horizontal bar";
    if (w == "vbar") return "vertical bar";
    return w;
  }
};

}  // namespace

const suite& pope_suite() { return single<pope>(); }

bool pope_said_yes(const std::string& text) { return pope::said_yes(text); }

}  // namespace lmlab::probe

#endif  // LMLAB_PROBE_HAS_VLM

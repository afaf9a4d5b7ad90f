// POPE sampling and metrics: see pope.hpp.
#include "vlm/pope.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace lmlab::vlm {

const char* pope_setting_name(pope_setting s) {
  switch (s) {
    case pope_setting::random: return "random";
    case pope_setting::popular: return "popular";
    default: return "adversarial";
  }
}

const std::vector<pope_setting>& pope_settings() {
  static const std::vector<pope_setting> v = {pope_setting::random, pope_setting::popular, pope_setting::adversarial};
  return v;
}

object_stats count_objects(const std::vector<std::vector<object>>& scenes, std::int64_t n_classes) {
  const auto n = static_cast<std::size_t>(n_classes);
  object_stats s{std::vector<std::int64_t>(n, 0), std::vector<std::vector<std::int64_t>>(n, std::vector<std::int64_t>(n, 0))};
  for (const auto& objs : scenes)
    for (const auto& a : objs) {
      LMLAB_CHECK(a.cls >= 0 && a.cls < n_classes, "pope: object class {} outside [0, {})", a.cls, n_classes);
      ++s.count[static_cast<std::size_t>(a.cls)];
      for (const auto& b : objs)
        if (b.cls != a.cls) ++s.cooc[static_cast<std::size_t>(a.cls)][static_cast<std::size_t>(b.cls)];
    }
  return s;
}

std::vector<pope_question> pope_questions(const std::vector<object>& objects, pope_setting setting, const object_stats& stats,
                                          std::int64_t n_classes, std::int64_t per_image, rng& g) {
  std::vector<pope_question> out;
  std::vector<bool> present(static_cast<std::size_t>(n_classes), false);
  for (const auto& o : objects) present[static_cast<std::size_t>(o.cls)] = true;
  for (const auto& o : objects)
    if (static_cast<std::int64_t>(out.size()) < per_image) out.push_back({o.cls, true});
  std::vector<std::int32_t> absent;
  for (std::int32_t c = 0; c < n_classes; ++c)
    if (!present[static_cast<std::size_t>(c)]) absent.push_back(c);
  const std::size_t want = std::min(out.size(), absent.size());
  if (setting == pope_setting::random) {
    for (std::size_t i = 0; i < want; ++i) {  // partial Fisher-Yates
      std::swap(absent[i], absent[i + g.below(absent.size() - i)]);
      out.push_back({absent[i], false});
    }
    return out;
  }
  // Score each absent class: its frequency (popular) or its co-occurrence with the image's
  // objects (adversarial); take the highest, lower class id first on ties.
  std::vector<std::int64_t> score(static_cast<std::size_t>(n_classes), 0);
  for (const auto c : absent) {
    auto& sc = score[static_cast<std::size_t>(c)];
    if (setting == pope_setting::popular) sc = stats.count[static_cast<std::size_t>(c)];
    else
      for (const auto& o : objects) sc += stats.cooc[static_cast<std::size_t>(o.cls)][static_cast<std::size_t>(c)];
  }
  std::stable_sort(absent.begin(), absent.end(),
                   [&](std::int32_t a, std::int32_t b) { return score[static_cast<std::size_t>(a)] > score[static_cast<std::size_t>(b)]; });
  for (std::size_t i = 0; i < want; ++i) out.push_back({absent[i], false});
  return out;
}

void pope_counts::add(bool truth, bool said_yes) {
  if (truth) (said_yes ? tp : fn) += 1;
  else (said_yes ? fp : tn) += 1;
}

pope_metrics pope_score(const pope_counts& c) {
  const auto ratio = [](std::int64_t a, std::int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  pope_metrics m;
  // ref: Li et al. 2023 (POPE) sec. 4.2 and its results tables' columns (Accuracy, Precision, Recall, F1, Yes).
  m.accuracy = ratio(c.tp + c.tn, c.total());
  m.precision = ratio(c.tp, c.tp + c.fp);
  m.recall = ratio(c.tp, c.tp + c.fn);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  m.yes_ratio = ratio(c.tp + c.fp, c.total());
  return m;
}

}  // namespace lmlab::vlm

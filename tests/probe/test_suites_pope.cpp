// The `pope` probe suite (src/probe/suites_pope.cpp): items are a pure function of the seed;
// each carries one 192x192 PNG data URI of a generated scene; per setting and image the
// positives are the scene's objects and the negatives absent ones chosen as vlm/pope.hpp
// chooses them; replies are parsed with POPE's rule; the aggregate equals hand-computed
// metrics.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "probe/suites.hpp"
#include "vlm/image_io.hpp"
#include "vlm/pope.hpp"
#include "vlm/scene.hpp"

using namespace lmlab;
using json = nlohmann::json;

namespace {

TEST(probe_pope, replies_are_parsed_with_popes_rule) {
  EXPECT_TRUE(probe::pope_said_yes("Yes, there is a circle in the image."));
  EXPECT_TRUE(probe::pope_said_yes("yes"));
  EXPECT_FALSE(probe::pope_said_yes("No, there is no circle."));
  EXPECT_FALSE(probe::pope_said_yes("There is not a circle in the image."));
  EXPECT_FALSE(probe::pope_said_yes("NO"));
  EXPECT_FALSE(probe::pope_said_yes("no!"));
  EXPECT_TRUE(probe::pope_said_yes("Yes. There is no doubt."));  // only the first sentence counts
  EXPECT_TRUE(probe::pope_said_yes("I see a nothing-like shape"));  // anything without no / not is a yes
  EXPECT_TRUE(probe::pope_said_yes(""));
}

TEST(probe_pope, items_are_deterministic_scenes_with_pope_questions) {
  probe::suite_options o;
  o.n = 5;
  o.seed = 3;
  const auto& su = probe::find_suite("pope");
  const auto a = su.build(o), b = su.build(o);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].messages[0].content, b[i].messages[0].content);
    EXPECT_EQ(a[i].messages[0].image_urls, b[i].messages[0].image_urls);
  }
  o.seed = 4;
  EXPECT_NE(su.build(o)[0].messages[0].image_urls, a[0].messages[0].image_urls);

  vlm::scene_config sc;
  sc.canvas = 24;
  std::map<std::string, int> per_setting;
  for (const auto& it : a) {
    const std::string setting = it.doc["setting"];
    ++per_setting[setting];
    ASSERT_EQ(it.messages.size(), 1u);
    ASSERT_EQ(it.messages[0].image_urls.size(), 1u);
    const tensor img = vlm::decode_png(vlm::decode_data_uri(it.messages[0].image_urls[0]), 1 << 20);
    EXPECT_EQ(img.size(1), 192);
    EXPECT_EQ(img.size(2), 192);
    const vlm::scene s = vlm::make_scene(sc, 3, it.doc["scene"].get<std::uint64_t>());
    std::string obj = it.doc["object"];
    EXPECT_EQ(it.messages[0].content, "Is there a " + obj + " in the image? Answer yes or no.");
    if (obj == "horizontal bar") obj = "hbar";
    if (obj == "vertical bar") obj = "vbar";
    EXPECT_EQ(s.has(vlm::word_id(obj) - vlm::word_id("square")), it.doc["truth"].get<bool>()) << it.id;
    EXPECT_EQ(it.target, it.doc["truth"].get<bool>() ? "yes" : "no");
  }
  EXPECT_EQ(per_setting.size(), 3u);
  // Per image: as many negatives as positives (scenes hold 1-3 of 8 classes, so absent ones abound).
  std::map<std::string, std::pair<int, int>> per_image;
  for (const auto& it : a) {
    auto& [pos, neg] = per_image[it.doc["setting"].get<std::string>() + "/" + it.doc["scene"].dump()];
    (it.doc["truth"].get<bool>() ? pos : neg) += 1;
  }
  for (const auto& [k, pn] : per_image) EXPECT_EQ(pn.first, pn.second) << k;
  EXPECT_EQ(per_image.size(), 15u);
}

TEST(probe_pope, the_aggregate_is_popes_metrics_per_setting) {
  const auto& su = probe::find_suite("pope");
  // random: TP 3, FP 1, TN 2, FN 4 (accuracy 0.5, precision 0.75, recall 3/7, F1 6/11, yes 0.4);
  // adversarial: TP 2, FP 2, TN 0, FN 0 (accuracy 0.5, precision 0.5, recall 1, F1 2/3, yes 1).
  std::vector<json> samples;
  const auto add = [&](const std::string& setting, bool truth, bool yes, int k) {
    for (int i = 0; i < k; ++i)
      samples.push_back({{"doc", {{"setting", setting}, {"truth", truth}}}, {"said_yes", yes}, {"correct", truth == yes}});
  };
  add("random", true, true, 3);
  add("random", false, true, 1);
  add("random", false, false, 2);
  add("random", true, false, 4);
  add("adversarial", true, true, 2);
  add("adversarial", false, true, 2);
  const auto r = su.aggregate(samples);
  EXPECT_DOUBLE_EQ(r.metrics["random_accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r.metrics["random_precision"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(r.metrics["random_recall"].get<double>(), 3.0 / 7);
  EXPECT_DOUBLE_EQ(r.metrics["random_f1"].get<double>(), 6.0 / 11);
  EXPECT_DOUBLE_EQ(r.metrics["random_yes_ratio"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(r.metrics["adversarial_f1"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.metrics["adversarial_yes_ratio"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r.metrics["f1_drop_adversarial"].get<double>(), 6.0 / 11 - 2.0 / 3);
  EXPECT_LE(r.metrics["random_f1_ci95_lo"].get<double>(), 6.0 / 11);
  EXPECT_GE(r.metrics["random_f1_ci95_hi"].get<double>(), 6.0 / 11);
  EXPECT_DOUBLE_EQ(r.metrics["acc"].get<double>(), 7.0 / 14);
  int rows = 0;
  for (const auto& s : r.slices) rows += s.slice == "setting=random" && s.metric == "f1" && s.n == 10 && s.value == 6.0 / 11;
  EXPECT_EQ(rows, 1);
}

}  // namespace

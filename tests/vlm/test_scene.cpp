// Scene generator: determinism, labels that match the pixels, captions and answers that match
// the ground truth, and the controlled popularity / co-occurrence statistics POPE relies on.
#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"
#include "vlm/pope.hpp"
#include "vlm/scene.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

scene_config clean() {
  scene_config c;
  c.noise = 0;
  return c;
}

TEST(vlm_scene, is_a_pure_function_of_seed_and_index) {
  const scene_config c;
  const scene a = make_scene(c, 7, 3), b = make_scene(c, 7, 3), d = make_scene(c, 7, 4), e = make_scene(c, 8, 3);
  EXPECT_TRUE(compare(a.image, b.image, 0, 0).ok);
  ASSERT_EQ(a.objects.size(), b.objects.size());
  for (std::size_t i = 0; i < a.objects.size(); ++i) EXPECT_EQ(a.objects[i].cls, b.objects[i].cls);
  EXPECT_FALSE(compare(a.image, d.image, 0, 0).ok);
  EXPECT_FALSE(compare(a.image, e.image, 0, 0).ok);
}

// Noise-free: every pixel of an object's cell is black or exactly that object's colour, at
// least 5 are coloured (a small bar is one row of 5), and cells without an object are black.
TEST(vlm_scene, pixels_match_the_labels) {
  const scene_config c = clean();
  const std::int64_t S = c.canvas, cell = S / c.grid;
  const float rgb[6][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}};
  for (std::uint64_t idx = 0; idx < 50; ++idx) {
    const scene s = make_scene(c, 1, idx);
    for (std::int64_t cy = 0; cy < c.grid; ++cy)
      for (std::int64_t cx = 0; cx < c.grid; ++cx) {
        const object* o = nullptr;
        for (const auto& ob : s.objects)
          if (ob.cx == cx && ob.cy == cy) o = &ob;
        std::int64_t coloured = 0;
        for (std::int64_t y = cy * cell; y < (cy + 1) * cell; ++y)
          for (std::int64_t x = cx * cell; x < (cx + 1) * cell; ++x) {
            const float p[3] = {static_cast<float>(s.image.at({0, y, x})), static_cast<float>(s.image.at({1, y, x})),
                                static_cast<float>(s.image.at({2, y, x}))};
            if (p[0] == 0 && p[1] == 0 && p[2] == 0) continue;
            ASSERT_NE(o, nullptr) << "scene " << idx << ": a coloured pixel in empty cell " << cx << "," << cy;
            for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(p[ch], rgb[o->colour][ch]) << "scene " << idx;
            ++coloured;
          }
        if (o) {
          EXPECT_GE(coloured, 5) << "scene " << idx << " " << class_name(o->cls);
        }
      }
  }
}

TEST(vlm_scene, objects_have_distinct_classes_and_cells_within_bounds) {
  const scene_config c;
  for (std::uint64_t idx = 0; idx < 200; ++idx) {
    const scene s = make_scene(c, 2, idx);
    ASSERT_GE(static_cast<std::int64_t>(s.objects.size()), c.min_objects);
    ASSERT_LE(static_cast<std::int64_t>(s.objects.size()), c.max_objects);
    std::set<int> classes, cells;
    for (const auto& o : s.objects) {
      EXPECT_TRUE(classes.insert(o.cls).second);
      EXPECT_TRUE(cells.insert(o.cy * 10 + o.cx).second);
      EXPECT_LT(o.cls, c.n_classes);
      EXPECT_LT(o.colour, c.n_colours);
    }
  }
}

TEST(vlm_scene, captions_and_answers_follow_the_ground_truth) {
  const scene_config c;
  for (std::uint64_t idx = 0; idx < 100; ++idx) {
    const scene s = make_scene(c, 3, idx);
    const std::string cap = caption(s);
    for (const auto& o : s.objects) EXPECT_NE(cap.find(colour_name(o.colour) + " " + class_name(o.cls)), std::string::npos) << cap;
    EXPECT_EQ(decode_words(encode_words(cap)), cap);
    rng g(5, idx);
    for (const auto k : {qa_kind::exist, qa_kind::colour, qa_kind::relation}) {
      const qa q = make_question(s, k, c, g);
      const std::vector<std::int32_t> w = encode_words(q.question);
      if (q.kind == qa_kind::exist) {
        const std::int32_t cls = w[3] - word_id("square");
        EXPECT_EQ(q.answer, s.has(cls) ? "yes" : "no") << q.question;
      } else if (q.kind == qa_kind::colour) {
        EXPECT_EQ(q.answer, colour_name(s.find(w[4] - word_id("square"))->colour)) << q.question;
      } else {
        const object* a = s.find(w[2] - word_id("square"));
        const bool left = q.question.find(" left of ") != std::string::npos;
        const object* b = s.find(w[left ? 6 : 5] - word_id("square"));
        ASSERT_TRUE(a && b) << q.question;
        EXPECT_EQ(q.answer, (left ? a->cx < b->cx : a->cy < b->cy) ? "yes" : "no") << q.question;
      }
    }
  }
}

// Relation questions exist whenever two objects differ in a column or a row.
TEST(vlm_scene, relation_questions_use_either_direction) {
  scene s;
  s.objects = {{0, 0, false, 0, 1}, {1, 1, false, 1, 1}};  // same row: only "left of" works
  const scene_config c;
  for (std::uint64_t i = 0; i < 20; ++i) {
    rng g(9, i);
    const qa q = make_question(s, qa_kind::relation, c, g);
    EXPECT_EQ(q.kind, qa_kind::relation);
    EXPECT_NE(q.question.find("left of"), std::string::npos);
  }
}

// Zipf popularity and partner co-occurrence, measured on 4,000 scenes.
TEST(vlm_scene, popularity_and_cooccurrence_are_controlled) {
  const auto stats_of = [](double cooccur, double popularity) {
    scene_config c;
    c.cooccur = cooccur;
    c.popularity = popularity;
    c.min_objects = 2;
    std::vector<std::vector<object>> ann;
    rng g(11);
    for (int i = 0; i < 4000; ++i) ann.push_back(draw_objects(c, g));
    return count_objects(ann, c.n_classes);
  };
  const object_stats hi = stats_of(0.9, 1.0), lo = stats_of(0.0, 1.0), flat = stats_of(0.0, 0.0);
  EXPECT_GT(hi.count[0], 2 * hi.count[7]);
  EXPECT_LT(std::abs(flat.count[0] - flat.count[7]), flat.count[0] / 5);
  // P(partner | class 2) with co-occurrence on vs off.
  const auto share = [](const object_stats& s, int c) { return static_cast<double>(s.cooc[c][c ^ 1]) / static_cast<double>(s.count[c]); };
  EXPECT_GT(share(hi, 2), 0.6);
  EXPECT_LT(share(lo, 2), 0.4);
}

TEST(vlm_scene, bad_configs_name_the_key) {
  scene_config c;
  c.max_objects = 5;  // > grid^2 = 4
  try {
    c.validate("task");
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("task.max_objects"), std::string::npos) << e.what();
  }
  c = {};
  c.grid = 3;
  EXPECT_THROW(c.validate(), error);
  EXPECT_THROW(word_id("zebra"), error);
}

}  // namespace

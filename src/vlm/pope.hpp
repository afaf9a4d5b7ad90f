// POPE, the Polling-based Object Probing Evaluation (Li et al. 2023, "Evaluating Object
// Hallucination in Large Vision-Language Models", sec. 4): yes/no questions "is there a <object>
// ?" about objects present in an image (answer yes) and absent ones (answer no), with the
// absent ("negative") objects sampled three ways (ref: sec. 4.1):
//   random       uniformly among the objects not in the image;
//   popular      the most frequent objects of the dataset's annotations not in the image;
//   adversarial  the objects that co-occur most often with the image's objects (summed
//                co-occurrence counts over its ground-truth objects) not in the image.
// Each image gives its ground-truth objects as positives and as many negatives (the paper: 3
// and 3 per image). Metrics (ref: sec. 4.2 and the columns of its results tables), "yes" the positive class:
// accuracy, precision, recall, F1 and the yes ratio (share of "yes" answers).
// Not for: the scenes (scene.hpp), answering (the model, runner.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vlm/scene.hpp"

namespace lmlab::vlm {

enum class pope_setting { random, popular, adversarial };
const char* pope_setting_name(pope_setting s);
const std::vector<pope_setting>& pope_settings();

// Object frequencies and co-occurrence counts of a set of annotated scenes (the "dataset" the
// popular and adversarial settings rank by).
struct object_stats {
  std::vector<std::int64_t> count;                // images containing class c
  std::vector<std::vector<std::int64_t>> cooc;    // images containing both c and d (c != d)
};
object_stats count_objects(const std::vector<std::vector<object>>& scenes, std::int64_t n_classes);

struct pope_question {
  std::int32_t cls = 0;
  bool truth = false;  // present in the image
};

// The questions for one image: its objects (positives, at most `per_image`), then as many
// negatives chosen by `setting`. Ties in popular/adversarial rankings go to the lower class id;
// random draws use `g`. Fewer negatives when fewer absent classes exist.
std::vector<pope_question> pope_questions(const std::vector<object>& objects, pope_setting setting, const object_stats& stats,
                                          std::int64_t n_classes, std::int64_t per_image, rng& g);

struct pope_counts {
  std::int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  void add(bool truth, bool said_yes);
  std::int64_t total() const { return tp + fp + tn + fn; }
};
struct pope_metrics {
  double accuracy = 0, precision = 0, recall = 0, f1 = 0, yes_ratio = 0;
};
// Li et al. 2023 sec. 4.2: accuracy (TP+TN)/all, precision TP/(TP+FP), recall TP/(TP+FN),
// F1 = 2PR/(P+R), yes ratio (TP+FP)/all. A 0/0 ratio is 0 (no "yes" answers: precision 0).
pope_metrics pope_score(const pope_counts& c);

}  // namespace lmlab::vlm

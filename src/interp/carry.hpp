// The notes' probe, made causal: a model trained on base-b addition (answer least significant
// digit first) must carry. At the position whose input is the first answer digit s0 it predicts
// s1 = (a1 + b1 + c1) mod b, so the carry c1 = [a0 + b0 >= b] must be represented there.
//   1. probe: a logistic probe for c1 on the residual stream at that position (and at "="), at
//      every depth (blocks.N.hook_resid_pre = N, hook_resid_mid = N + 1/2, the last
//      hook_resid_post = L), with Hewitt & Liang's control task (a random label per type, the
//      type being the pair (a0, b0)) and selectivity;
//   2. steer: add alpha x gap x u at the best depth at that position (u the probe's unit
//      direction, gap the distance between the class means along u), towards the other carry
//      value; count how often the prediction becomes the other carry's digit (s1 +- 1), against a
//      random unit direction of the same size — does the model *use* the direction?
//   3. patch: clean a + b vs corrupted a' + b with a0 changed so the carry flips; each cell
//      copies the clean residual at one (depth, position) into the corrupted run; the effect is
//      the normalised logit difference (clean = 1, corrupted = 0) of s1 against s1'.
// ref: Hewitt & Liang 2019, "Designing and Interpreting Probes with Control Tasks" (selectivity);
// the probe-then-intervene check of Li et al. 2023 ("Emergent World Representations", sec. 4:
// intervening along a probe's direction changes the model's predictions) and Nanda et al.
// 2023 ("Emergent Linear Representations in World Models"); activation patching with the
// normalised logit difference (Meng et al. 2022, causal tracing; Heimersheim & Nanda 2024).
// Not for: training (the runner trains through lab::train_and_evaluate), the CLI verbs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "interp/probe.hpp"
#include "models/causal_lm.hpp"
#include "tasks/dataset.hpp"
#include "tasks/registry.hpp"

namespace lmlab::interp {

struct carry_task {
  std::int64_t base = 10;
  std::int64_t digits = 2;           // both operands have exactly this many digits
  std::int64_t num_train = 4000;     // the arithmetic dataset the model trains on
  std::int64_t num_test = 200;
  double holdout = 0.1;
  std::int64_t probe_examples = 600; // fresh items for the probes and the steering
  std::int64_t patch_pairs = 64;     // clean / corrupted pairs for the patching grid
  double max_scale = 4;              // steering scales 0, 1/8, 1/4, ..., max_scale (x the class gap)
};

// The task schema ("carry_probe", for lab::register_lab_task: no dataset of its own) and its
// cross-key check, run by the schema's canonical().
const tasks::param_table<carry_task>& carry_params();
void check(const carry_task& t);
// The "arithmetic" task table the model trains on: addition in base `base`, exactly `digits`
// digits per operand, reversed answers.
nlohmann::json arithmetic_task_json(const carry_task& t);

// One item cut at the first answer digit: ids "<bos> base .. : a + b = s0"; the model's next
// prediction is s1.
struct carry_item {
  std::vector<std::int32_t> ids;
  int carry = 0;                 // c1 = [a0 + b0 >= base]
  std::int32_t s0 = 0, s1 = 0;   // token ids of the first two answer digits
  std::int32_t other = 0;        // the s1 token of the other carry: (s1 -+ 1) mod base
  std::int64_t type = 0;         // the control task's type: the pair (a0, b0) as a0 * base + b0
};
// `n` items with uniformly random operands of exactly t.digits digits, from rng(seed, stream).
std::vector<carry_item> carry_items(const tasks::dataset& ds, const carry_task& t, std::uint64_t seed, std::int64_t n,
                                    std::uint64_t stream = 0);

// The hook sites in depth order and their depths (see above).
std::vector<std::pair<std::string, double>> residual_sites(const models::causal_lm& model);

// Probes read the residual at `position` of the items: -1 the s0 position, -2 the "=" position.
// The control task's types are the pairs (a0, b0) — the inputs the carry is a function of — so
// the control is a random function of the same inputs with the carry's label distribution, and
// selectivity measures how much easier the representation makes the carry than an arbitrary
// labelling of those pairs (with the token at the probed position as the type, "=" would give one
// type and a constant control label).
struct depth_probe {
  std::string hook;
  double depth = 0;
  std::int64_t position = -1;
  probe_result result;
  std::vector<double> direction;  // unit probe direction in activation space (W[1] - W[0])
  double gap = 0;                 // mean projection on it: carry 1 minus carry 0
  // The difference of the class means (carry 1 minus carry 0), unit, and its length: the
  // "mass-mean" direction, which Marks & Tegmark 2023 ("The Geometry of Truth", sec. 5) found
  // more causally implicated than logistic-regression directions.
  std::vector<double> mean_direction;
  double mean_gap = 0;
};
std::vector<depth_probe> probe_carry(models::causal_lm& model, const std::vector<carry_item>& items, std::int64_t position,
                                     const probe_options& opt);

struct steer_row {
  double scale = 0;
  double flip_probe = 0, flip_random = 0, flip_mean = 0;  // share of items whose argmax became `other`
  double acc_probe = 0, acc_random = 0, acc_mean = 0;     // share of items whose argmax is still s1
};
// Steering at `at` (its hook and position) towards the other carry value, for each scale, along
// the probe direction (scale x gap), the class-mean difference (scale x mean_gap) and a random
// unit direction (seeded; scale x gap); the prediction read is s1's, at the last position.
std::vector<steer_row> steer_carry(models::causal_lm& model, const std::vector<carry_item>& items, const depth_probe& at,
                                   const std::vector<double>& scales, std::uint64_t seed);

struct carry_patch {
  double clean = 0, corrupted = 0;  // mean logit difference s1 - s1' of the unpatched runs
  struct cell {
    double depth = 0;
    std::int64_t pos = 0;
    double effect = 0;
  };
  std::vector<cell> cells;
  std::int64_t pos_a0 = 0, pos_b0 = 0, pos_s0 = 0;  // where the carry's inputs and the prediction sit
};
carry_patch patch_carry(models::causal_lm& model, const tasks::dataset& ds, const carry_task& t, std::uint64_t seed);

}  // namespace lmlab::interp

// Linear probes with a control task: multinomial logistic regression (L2, features
// standardised on the training split, fitted by L-BFGS from Debian's liblbfgs) or a ridge
// classifier (least squares on one-hot labels with an L2 penalty, closed form; ridge.cpp) on
// activation vectors, with a train/test split by example, a control task and bootstrap intervals.
// ref: Hewitt & Liang 2019, "Designing and Interpreting Probes with Control Tasks", sec. 2-3:
// the control task gives every word *type* a label drawn once at random from the empirical
// label distribution, so only a probe that memorises types can solve it;
// selectivity = task accuracy - control accuracy (on the same test examples).
// Not for: collecting the activations (interp.hpp cache_activations), the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/stats.hpp"

namespace lmlab::interp {

enum class probe_kind { logistic, ridge };
probe_kind parse_probe_kind(const std::string& s);  // "logistic" | "ridge"; error names the value

struct probe_options {
  probe_kind kind = probe_kind::logistic;
  double test_fraction = 0.3;
  double l2 = 1e-3;           // on the mean loss, weights only (not the biases)
  int max_iterations = 500;
  std::uint64_t seed = 0;     // split, control labels and bootstrap
  std::size_t resamples = 2000;
};

struct probe_result {
  std::size_t n_train = 0, n_test = 0;
  int classes = 0;
  double train_acc = 0;
  analysis::interval task_acc, control_acc, selectivity;  // test split; percentile bootstrap
  // Probe weights in the original (unstandardised) feature space, (classes, D) row-major, and
  // biases (classes): logits = W x + b. For two classes, W[1] - W[0] is the probe direction.
  std::vector<double> weights, bias;
};

// A fitted softmax regression.
struct logistic_model {
  int classes = 0;
  std::size_t dim = 0;
  std::vector<double> w, b;  // (classes, dim), (classes)
  int predict(const double* x) const;
};
// X (N, D) row-major; labels in [0, classes).
logistic_model fit_logistic(const std::vector<double>& X, std::size_t D, const std::vector<int>& y, int classes,
                            const probe_options& opt = {});

// ref: the ridge classifier (Hoerl & Kennard 1970; scikit-learn's RidgeClassifier): on features
// standardised over these examples, W minimises (1/2N) ||Z W + 1 b - Y||^2 + (l2/2) ||W||^2 with
// Y the one-hot labels (b = the label frequencies, as Z is centred), solved by Cholesky; predict
// is the argmax of W x + b, as for the logistic model. Returned in the original feature space.
logistic_model fit_ridge(const std::vector<double>& X, std::size_t D, const std::vector<int>& y, int classes,
                         const probe_options& opt = {});

// X (N, D) row-major, labels y (N) in [0, classes), types (N) (e.g. the token id at the probed
// position) for the control task. The split is by example (a random permutation from seed).
probe_result probe_with_control(const std::vector<double>& X, std::size_t D, const std::vector<int>& y,
                                const std::vector<std::int64_t>& types, const probe_options& opt = {});

}  // namespace lmlab::interp

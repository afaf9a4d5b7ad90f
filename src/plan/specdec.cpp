// Speculative decoding arithmetic: see specdec.hpp.
#include "plan/specdec.hpp"

#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace lmlab::plan {

namespace {
void check_alpha(double alpha) {
  LMLAB_CHECK_HINT(alpha >= 0 && alpha <= 1, "alpha is an acceptance rate in [0, 1]",
                   "--alpha: {} is outside [0, 1]", alpha);
}
void check_gamma(int gamma) {
  LMLAB_CHECK_HINT(gamma >= 0, "gamma is the number of draft tokens per step (0 = no drafting)",
                   "--gamma: {} must be >= 0", gamma);
}
}  // namespace

double specdec_expected_tokens(double alpha, int gamma) {
  check_alpha(alpha);
  check_gamma(gamma);
  if (alpha == 1.0) return gamma + 1.0;  // limit of the geometric sum
  return (1.0 - std::pow(alpha, gamma + 1)) / (1.0 - alpha);  // ref: Leviathan et al. 2023, eq. (1)
}

double specdec_speedup(double alpha, int gamma, double c) {
  LMLAB_CHECK_HINT(c >= 0, "c is the draft model's time per token over the target's, e.g. 0.05",
                   "--c: {} must be >= 0", c);
  return specdec_expected_tokens(alpha, gamma) / (gamma * c + 1.0);  // ref: Leviathan et al. 2023, Theorem 3.8
}

double specdec_ops_factor(double alpha, int gamma, double c_hat) {
  // ref: Leviathan et al. 2023, Theorem 3.11
  return (gamma * c_hat + gamma + 1.0) / specdec_expected_tokens(alpha, gamma);
}

int specdec_optimal_gamma(double alpha, double c, int max_gamma) {
  int best = 0;
  double best_s = 1.0;
  for (int g = 1; g <= max_gamma; ++g) {
    const double s = specdec_speedup(alpha, g, c);
    if (s > best_s * (1 + 1e-12)) best = g, best_s = s;
  }
  return best;
}

acceptance_estimate estimate_acceptance(const std::vector<std::int64_t>& accepted, int gamma) {
  LMLAB_CHECK_HINT(gamma >= 1, "pass the draft length the log was recorded with, e.g. --gamma 4",
                   "--gamma: {} must be >= 1 to read an acceptance log", gamma);
  LMLAB_CHECK_HINT(!accepted.empty(), "the log holds one accepted-draft count per target step",
                   "--accept-log: no entries");
  acceptance_estimate e;
  double sum = 0, rejections = 0;
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    const auto n = accepted[i];
    LMLAB_CHECK_HINT(n >= 0 && n <= gamma, "every entry counts accepted draft tokens, 0..gamma",
                     "--accept-log: entry {} is {}, outside [0, {}]", i + 1, n, gamma);
    sum += static_cast<double>(n);
    if (n < gamma) rejections += 1;
  }
  e.steps = static_cast<std::int64_t>(accepted.size());
  e.alpha = sum + rejections > 0 ? sum / (sum + rejections) : 0.0;
  e.mean_accepted = sum / e.steps;
  e.mean_tokens = e.mean_accepted + 1.0;
  return e;
}

std::vector<std::int64_t> read_accept_log(const std::string& path) {
  const std::string text = read_text_file(path);
  std::vector<std::int64_t> out;
  std::istringstream lines(text);
  std::string line;
  int lineno = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (char& ch : line)
      if (ch == ',') ch = ' ';
    std::istringstream items(line);
    std::string item;
    while (items >> item) {
      char* end = nullptr;
      const long long v = std::strtoll(item.c_str(), &end, 10);
      LMLAB_CHECK_HINT(end && *end == '\0', "one integer per step: the accepted draft length",
                       "{}:{}: '{}' is not an integer", path, lineno, item);
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace lmlab::plan

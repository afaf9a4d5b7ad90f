// Sparse autoencoders (SAEs) on activation vectors, with hand-written exact gradients (double;
// checked against finite differences), and a synthetic benchmark with known features.
//   f = act(W_enc (x - b_dec) + b_enc), x_hat = W_dec f + b_dec, W_dec's d_sae rows unit-norm.
//   L1:   act = ReLU; loss = ||x - x_hat||^2 + l1 * sum_j f_j ||d_j|| (ref: Bricken et al. 2023,
//         "Towards Monosemanticity", the "Sparse Autoencoder" setup: ReLU encoder, L1 penalty,
//         decoder rows renormalised to unit norm after every step, pre-encoder bias b_dec).
//   TopK: act = keep the k largest pre-activations (then ReLU), no sparsity penalty
//         (ref: Gao et al. 2024, "Scaling and evaluating sparse autoencoders", sec. 2.3, eq. 3).
//   BatchTopK: in training keep the B k largest pre-activations of a batch of B rows (then
//         ReLU), so rows share the budget; at inference a JumpReLU f_j = pre_j [pre_j > theta],
//         theta the running mean (rate 0.01) of each training batch's smallest kept activation
//         (ref: Bussmann, Leask & Nanda 2024, "BatchTopK Sparse Autoencoders", sec. 3).
//   AuxK (any kind, optional): + aux_coef ||e - e_hat||^2 with e = x - x_hat held fixed and
//         e_hat = sum over the k_aux dead latents with the largest pre-activations of
//         ReLU(pre_j) d_j; a latent is dead when it has not fired for dead_steps steps (ref: Gao
//         et al. 2024 sec. 2.4 and A.2: k_aux = d_in / 2, coefficient 1/32, the auxiliary MSE
//         normalised per row by ||e||^2 as theirs; our main loss is the plain squared error, theirs
//         normalised by ||x||^2). Gradients of sae_aux_loss: sae_aux.cpp.
// Initialisation: W_dec rows random unit vectors, W_enc = W_decᵀ (Gao et al. sec. 2.1), b_enc =
// 0, b_dec = the data mean. Adam on minibatches drawn from the training rows.
// Metrics (SAELens's names): L0 = mean number of active latents, explained variance = 1 -
// sum ||x - x_hat||^2 / sum ||x - mean(x)||^2, dead latents = share never active on the
// evaluated rows, and the CE-loss score (CE_ablation - CE_sae) / (CE_ablation - CE_clean)
// of a language model whose activation is replaced by x_hat (sae) or zeros (ablation).
// Synthetic benchmark (ref: Sharkey et al. 2022, "Taking features out of superposition with
// sparse autoencoders", the toy data): n unit feature directions in d < n dimensions; feature i
// is active with probability p_i ∝ (i + 1)^-skew (frequency skew) scaled so that on average
// `mean_active` are, with magnitude uniform on [0, 1]; x = sum_i a_i g_i. Recovery: MMCS (mean
// over features of the best cosine with any decoder row, Sharkey et al.), MCC (the mean cosine
// of a one-to-one greedy matching of features to latents, "matched cosine"), and per matched
// latent its precision P(feature active | latent active) and recall P(latent active | feature
// active).
// Not for: caching the activations (interp.hpp), the lab runner (src/labs/interp_runners.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "tasks/registry.hpp"

namespace lmlab::interp {

enum class sae_kind { l1, topk, batchtopk };
sae_kind parse_sae_kind(const std::string& s);  // "l1" | "topk" | "batchtopk"; error names the value
const char* sae_kind_name(sae_kind k);

struct sae_config {
  sae_kind kind = sae_kind::topk;
  std::int64_t d_in = 0, d_sae = 0;
  double l1 = 1e-2;          // L1 coefficient (kind l1)
  std::int64_t k = 4;        // active latents (kind topk), mean active latents per row (batchtopk)
  double aux_coef = 0;       // AuxK coefficient; 0 = no auxiliary loss
  std::int64_t k_aux = 0;    // dead latents the auxiliary loss uses; 0 = d_in / 2
  std::int64_t dead_steps = 200;  // a latent that has not fired for this many steps is dead (AuxK)
  std::int64_t steps = 2000, batch = 128;
  double lr = 1e-3;
  std::uint64_t seed = 0;
};

struct sae {
  sae_kind kind = sae_kind::topk;
  std::int64_t d_in = 0, d_sae = 0, k = 0;
  double threshold = 0;  // batchtopk's inference threshold theta
  std::vector<double> W_enc, b_enc, W_dec, b_dec;  // (d_sae, d_in), (d_sae), (d_sae, d_in) rows d_j, (d_in)
  // x (d_in) -> f (d_sae) (inference: batchtopk uses its threshold).
  void encode(const double* x, double* f) const;
  // Pre-activations W_enc (x - b_dec) + b_enc of one row.
  void pre_activations(const double* x, double* pre) const;
  // Rows X (B, d_in) -> codes F (B, d_sae) as in training: batchtopk selects over the batch.
  void encode_batch(const double* X, std::int64_t B, double* F) const;
  // f (d_sae) -> x_hat (d_in).
  void decode(const double* f, double* x_hat) const;
  // Renormalises every decoder row to unit norm (the constraint).
  void normalise_decoder();
};

// Loss on rows X (B, d_in) (mean over rows) and, when grad is given, its gradient with respect
// to [W_enc, b_enc, W_dec, b_dec] in that order, flattened. codes: the training codes F (B, d_sae).
double sae_loss(const sae& s, const std::vector<double>& X, std::int64_t B, double l1, std::vector<double>* grad,
                std::vector<double>* codes = nullptr);
// ref: Gao et al. 2024 sec. A.2 (AuxK): mean over rows of ||E_b - e_hat_b||^2 / ||E_b||^2 (rows
// with E_b = 0 count 0), e_hat_b = sum over
// the k_aux latents with dead[j] != 0 and the largest pre-activations of ReLU(pre_bj) d_j (no
// b_dec: E is a residual). E (B, d_in) is a constant (the caller's x - x_hat, detached), so the
// gradient (layout as sae_loss) is that of this function at fixed E.
double sae_aux_loss(const sae& s, const std::vector<double>& X, const std::vector<double>& E, std::int64_t B,
                    const std::vector<std::uint8_t>& dead, std::int64_t k_aux, std::vector<double>* grad);

// Trains on the rows of X (N, d_in); minibatches drawn uniformly (seeded).
sae train_sae(const std::vector<double>& X, std::int64_t N, const sae_config& c);

struct sae_metrics {
  double l0 = 0, explained_variance = 0, mse = 0, dead_fraction = 0;
};
sae_metrics evaluate_sae(const sae& s, const std::vector<double>& X, std::int64_t N);

// ref: SAELens / Gao et al. 2024 sec. 4: the share of the loss gap that the SAE's reconstruction
// recovers, (ce_ablation - ce_sae) / (ce_ablation - ce_clean); NaN when clean equals ablation.
double ce_loss_score(double ce_clean, double ce_sae, double ce_ablation);

// ---- synthetic benchmark --------------------------------------------------------------------
struct synthetic_config {
  std::int64_t n_features = 64, d = 32;
  double mean_active = 3;  // expected active features per sample
  double skew = 0.5;       // p_i ∝ (i + 1)^-skew
  std::uint64_t seed = 0;
};
struct synthetic_data {
  std::int64_t n = 0, d = 0;
  std::vector<double> G;  // (n, d) unit feature directions
  std::vector<double> p;  // (n) activation probabilities
};
synthetic_data make_synthetic(const synthetic_config& c);
// N samples: X (N, d) and the active mask (N, n) (1 where feature i is active).
void sample_synthetic(const synthetic_data& s, std::int64_t N, rng& r, std::vector<double>& X, std::vector<std::uint8_t>& active);

struct recovery {
  double mmcs = 0, mcc = 0;
  double recovered = 0;                // share of features with matched cosine >= 0.9
  double precision = 0, recall = 0;    // mean over matched pairs, on the given samples
  std::vector<double> matched_cosine;  // per feature
  std::vector<std::int64_t> match;     // per feature: its latent
};
recovery recover_features(const sae& s, const synthetic_data& truth, const std::vector<double>& X,
                          const std::vector<std::uint8_t>& active, std::int64_t N);

// ---- the synthetic benchmark as a lab task ("sae_synthetic", a lab runner's task) -----------
struct sae_task {
  std::int64_t n_features = 64, d = 32;
  double mean_active = 3, skew = 0.5;
  std::string kind = "topk";
  std::int64_t d_sae = 64, k = 4;
  double l1 = 0.05;
  std::int64_t steps = 3000, batch = 64;
  double lr = 3e-3;
  std::int64_t train_samples = 8192, eval_samples = 2048;
};
void check(const sae_task& t);
const tasks::param_table<sae_task>& sae_params();  // "sae_synthetic"
struct sae_benchmark {
  sae_metrics metrics;
  recovery rec;
};
// Draws the features from `seed`, trains the SAE on fresh samples, scores it on others.
sae_benchmark run_sae_benchmark(const sae_task& t, std::uint64_t seed);

}  // namespace lmlab::interp

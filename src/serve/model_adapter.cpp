// Model adapter for `lmlab serve`: see model_adapter.hpp.
#include "serve/model_adapter.hpp"

#include <algorithm>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "models/causal_lm.hpp"
#include "train/checkpoint.hpp"
#include "train/import.hpp"
#include "serve/vlm_adapter.hpp"

namespace lmlab::serve {
namespace {

// A decoder's window starts as the prompt, which must fit the context.
void start_window(std::vector<std::int32_t>& window, std::span<const std::int32_t> prompt, const model_lm& lm) {
  LMLAB_CHECK(!prompt.empty() && static_cast<std::int64_t>(prompt.size()) <= lm.context(),
              "serve: prefill of {} tokens (the model takes 1..{})", prompt.size(), lm.context());
  window.assign(prompt.begin(), prompt.end());
}

// Recompute decoder: keeps the last context() tokens and runs the full window each step.
class recompute_decoder final : public decoder {
 public:
  explicit recompute_decoder(model_lm& lm) : lm_(lm) {}

  logits_rows prefill(std::span<const std::int32_t> prompt) override {
    start_window(window_, prompt, lm_);
    return lm_.forward(window_);
  }

  std::vector<float> step(std::int32_t token) override {
    window_.push_back(token);
    if (static_cast<std::int64_t>(window_.size()) > lm_.context()) window_.erase(window_.begin());
    // Only the last row is needed; the whole window is recomputed because gpt has no cache.
    logits_rows all = lm_.forward(window_);
    const auto last = all.row(all.rows - 1);
    return {last.begin(), last.end()};
  }

 private:
  model_lm& lm_;
  std::vector<std::int32_t> window_;
};

// Step decoder: the model's own incremental state (KV caches, recurrent states), so a token
// costs one step rather than a forward over the whole window. The prompt is fed token by token
// through the same step function, which also gives every prompt row its logits. Past context()
// the window slides as in the recompute decoder: the state is rebuilt from the last context()
// tokens (O(T) steps, as lmlab sample's fallback), so both decoders see the same window.
class step_decoder final : public decoder {
 public:
  explicit step_decoder(model_lm& lm) : lm_(lm) {}

  logits_rows prefill(std::span<const std::int32_t> prompt) override {
    start_window(window_, prompt, lm_);
    return restart();
  }

  std::vector<float> step(std::int32_t token) override {
    window_.push_back(token);
    if (static_cast<std::int64_t>(window_.size()) > lm_.context()) {
      window_.erase(window_.begin());
      logits_rows all = restart();
      const auto last = all.row(all.rows - 1);
      return {last.begin(), last.end()};
    }
    return lm_.step(*state_, token);
  }

 private:
  logits_rows restart() {
    state_ = lm_.new_state();
    logits_rows out;
    out.rows = static_cast<std::int64_t>(window_.size());
    out.vocab = lm_.vocab_size();
    out.data.reserve(static_cast<std::size_t>(out.rows * out.vocab));
    for (std::int32_t id : window_) {
      const auto row = lm_.step(*state_, id);
      out.data.insert(out.data.end(), row.begin(), row.end());
    }
    return out;
  }

  model_lm& lm_;
  std::vector<std::int32_t> window_;
  std::unique_ptr<models::lm_state> state_;
};

}  // namespace

model_lm::model_lm(std::unique_ptr<models::causal_lm> model, decode_mode mode)
    : model_(std::move(model)), step_(mode == decode_mode::step && model_ && model_->supports_step()) {
  LMLAB_ASSERT(model_ != nullptr, "model_lm: null model");
  model_->eval();
}

model_lm::~model_lm() = default;

std::int64_t model_lm::vocab_size() const { return model_->vocab_size(); }
std::int64_t model_lm::context() const { return model_->n_ctx(); }
std::string model_lm::architecture() const {
  const auto j = model_->config_json();
  return j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "lmlab";
}

std::unique_ptr<decoder> model_lm::new_decoder() {
  if (step_) return std::make_unique<step_decoder>(*this);
  return std::make_unique<recompute_decoder>(*this);
}

std::unique_ptr<models::lm_state> model_lm::new_state() {
  std::lock_guard lk(mu_);
  return model_->new_state(1);
}

std::vector<float> model_lm::step(models::lm_state& state, std::int32_t id) {
  const std::int64_t V = vocab_size();
  LMLAB_CHECK(id >= 0 && id < V, "serve: token id {} is outside the model's vocabulary of {}", id, V);
  no_grad ng;
  std::lock_guard lk(mu_);
  tensor logits = model_->step(state, tensor::from<std::int32_t>({1}, {id})).contiguous_raw();  // (1, V)
  ++steps_;
  const float* p = logits.data<float>();
  return {p, p + V};
}

std::int64_t model_lm::steps() const {
  std::lock_guard lk(mu_);
  return steps_;
}

logits_rows model_lm::forward(std::span<const std::int32_t> ids) {
  const auto T = static_cast<std::int64_t>(ids.size());
  const std::int64_t V = vocab_size();
  for (std::int32_t id : ids)
    LMLAB_CHECK(id >= 0 && id < V, "serve: token id {} is outside the model's vocabulary of {}", id, V);
  no_grad ng;  // grad mode is per thread: every server thread needs its own guard
  tensor x = tensor::from<std::int32_t>({1, T}, ids);
  logits_rows out;
  {
    std::lock_guard lk(mu_);
    tensor logits = model_->forward(x).contiguous_raw();  // (1, T, V)
    ++forwards_;
    const float* p = logits.data<float>();
    out.data.assign(p, p + T * V);
  }
  out.rows = T;
  out.vocab = V;
  return out;
}

std::int64_t model_lm::forwards() const {
  std::lock_guard lk(mu_);
  return forwards_;
}

served_model make_served_model(std::unique_ptr<models::causal_lm> model, std::unique_ptr<data::tokenizer> tok,
                               std::string name, decode_mode mode) {
  LMLAB_ASSERT(model && tok, "make_served_model: null model or tokenizer");
  served_model m;
  m.name = std::move(name);
  for (const auto& [name, t] : model->named_parameters()) m.num_parameters += t.numel();
  LMLAB_CHECK_HINT(tok->vocab_size() <= model->vocab_size(),
                   "the checkpoint's tokenizer.json and config.json come from different runs",
                   "serve: the tokenizer has {} ids but the model only {} (vocab_size)", tok->vocab_size(),
                   model->vocab_size());
  m.lm = std::make_unique<model_lm>(std::move(model), mode);
  m.tok = std::move(tok);
  return m;
}

served_model load_served_model(const std::filesystem::path& dir, const std::string& name, decode_mode mode) {
  if (is_vlm_checkpoint_dir(dir)) return load_vlm_served_model(dir, name);  // a lab VLM (vlm_adapter.hpp)
  auto ck = train::load_model_any(dir);  // a checkpoint folder, a .gguf file or a Hugging Face folder
  LMLAB_CHECK_HINT(ck.tokenizer.has_value(), "checkpoints written by `lmlab train` carry tokenizer.json",
                   "{}: no tokenizer.json in the checkpoint (the server needs it to read prompts)", dir.string());
  auto tok = data::tokenizer_from_json(*ck.tokenizer, (dir / "tokenizer.json").string());
  std::string n = name;
  if (n.empty()) {
    auto d = std::filesystem::absolute(dir).lexically_normal();
    if (d.filename().empty()) d = d.parent_path();
    n = d.filename().string();
    if (n == "checkpoint" && d.has_parent_path() && !d.parent_path().filename().empty())
      n = d.parent_path().filename().string();
  }
  auto m = make_served_model(std::move(ck.model), std::move(tok), n, mode);
  m.dir = dir;
  return m;
}

}  // namespace lmlab::serve

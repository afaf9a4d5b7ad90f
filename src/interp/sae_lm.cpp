// SAEs spliced into a language model: see sae_lm.hpp.
#include "interp/sae_lm.hpp"

#include <cstdlib>
#include <functional>
#include <sstream>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "hooks/hooks.hpp"
#include "nn/safetensors.hpp"
#include "tasks/params.hpp"

namespace lmlab::interp {

namespace {
// (B, T, C) f32 -> B*T rows of C doubles.
std::vector<double> rows_of(const tensor& a, std::int64_t* width) {
  LMLAB_CHECK(a.shape().size() == 3, "sae: the hook's activation has {} dims, expected (B, T, C)", a.shape().size());
  const tensor c = a.contiguous_raw();
  const float* p = c.data<float>();
  *width = a.shape()[2];
  return std::vector<double>(p, p + c.numel());
}

// The mean cross-entropy with the hook's activation mapped row by row through `map` (in place).
double ce_with(models::causal_lm& model, const tensor& inputs, const tensor& targets, const std::string& hook,
               const std::function<void(std::vector<double>& rows, std::int64_t width)>& map) {
  no_grad ng;
  hooks::hook_scope scope(model);
  if (map)
    scope.add(hook, [&](const tensor& act, const nn::hook_point&) {
      std::int64_t C = 0;
      std::vector<double> rows = rows_of(act, &C);
      map(rows, C);
      std::vector<float> out(rows.begin(), rows.end());
      return tensor::from<float>(act.shape(), std::span<const float>(out));
    });
  return model.loss(inputs, targets).item();
}
}  // namespace

std::vector<double> hook_rows(models::causal_lm& model, const tensor& ids, const std::string& hook, std::int64_t* width) {
  no_grad ng;
  std::vector<double> rows;
  hooks::hook_scope scope(model);
  scope.add(hook, [&](const tensor& act, const nn::hook_point&) {
    rows = rows_of(act, width);
    return tensor{};  // observe only
  });
  model.forward(ids);
  return rows;
}

sae_ce sae_ce_scores(models::causal_lm& model, const tensor& inputs, const tensor& targets, const std::string& hook, const sae& s) {
  sae_ce r;
  r.clean = ce_with(model, inputs, targets, hook, nullptr);
  r.sae = ce_with(model, inputs, targets, hook, [&](std::vector<double>& rows, std::int64_t C) {
    LMLAB_CHECK(C == s.d_in, "sae: an SAE on {} dimensions spliced into {} ({} dimensions)", s.d_in, hook, C);
    std::vector<double> f(static_cast<std::size_t>(s.d_sae));
    for (std::size_t o = 0; o < rows.size(); o += static_cast<std::size_t>(C)) {
      s.encode(rows.data() + o, f.data());
      s.decode(f.data(), rows.data() + o);  // decode writes x_hat over the row it read
    }
  });
  r.ablation = ce_with(model, inputs, targets, hook, [](std::vector<double>& rows, std::int64_t) { std::fill(rows.begin(), rows.end(), 0.0); });
  r.score = ce_loss_score(r.clean, r.sae, r.ablation);
  return r;
}

std::vector<sae_variant> parse_sae_variants(const std::string& kinds) {
  std::vector<sae_variant> out;
  std::istringstream words(kinds);  // space-separated: a comma in a spec string makes a sweep axis
  for (std::string word; words >> word;) {
    sae_variant v;
    std::string item = word;
    const std::string aux = "+auxk";
    if (item.size() > aux.size() && item.ends_with(aux)) v.auxk = true, item.resize(item.size() - aux.size());
    if (item != "l1" && item != "topk" && item != "batchtopk")
      throw tasks::param_error("kinds", fmt::format("sae_lm: kinds: '{}' is not an SAE kind", word),
                               "use l1, topk or batchtopk, each optionally with +auxk, separated by spaces");
    v.kind = parse_sae_kind(item);
    v.name = item + (v.auxk ? "_auxk" : "");
    for (const auto& o : out)
      if (o.name == v.name) throw tasks::param_error("kinds", fmt::format("sae_lm: kinds: '{}' is listed twice", word));
    out.push_back(v);
  }
  if (out.empty()) throw tasks::param_error("kinds", "sae_lm: kinds is empty", "e.g. kinds = \"topk batchtopk topk+auxk\"");
  return out;
}

const tasks::param_table<sae_lm_task>& sae_lm_params() {
  static const auto t = tasks::param_table<sae_lm_task>("sae_lm")
        .add("corpus", &sae_lm_task::corpus, "corpus the character LM trains on (`lmlab data list`; fetched beforehand)")
        .add("seq_len", &sae_lm_task::seq_len, "characters per window", 2, 65536)
        .add_sizes("held-out windows: the SAE metrics and the CE-loss score")
        .add("hook", &sae_lm_task::hook, "the (B, T, C) hook the SAEs read and replace")
        .add("kinds", &sae_lm_task::kinds, "SAE kinds, space-separated (l1, topk, batchtopk; +auxk adds the AuxK loss)")
        .add("sae_windows", &sae_lm_task::sae_windows, "training windows whose activations (every position) train the SAEs", 1, 1e7)
        .add("d_sae", &sae_lm_task::d_sae, "SAE latents", 1, 1 << 20)
        .add("k", &sae_lm_task::k, "active latents per row (topk; batchtopk on average)", 1, 1 << 20)
        .add("l1", &sae_lm_task::l1, "L1 coefficient (l1)", 0, 1e6)
        .add("aux_coef", &sae_lm_task::aux_coef, "AuxK coefficient (Gao et al.: 1/32)", 0, 1e3)
        .add("k_aux", &sae_lm_task::k_aux, "dead latents in the AuxK loss (0: d_in / 2)", 0, 1 << 20)
        .add("dead_steps", &sae_lm_task::dead_steps, "steps without firing after which a latent is dead (AuxK)", 1, 1e9)
        .add("sae_steps", &sae_lm_task::sae_steps, "SAE Adam steps", 1, 1e8)
        .add("sae_batch", &sae_lm_task::sae_batch, "activation rows per SAE step", 1, 1 << 20)
        .add("sae_lr", &sae_lm_task::sae_lr, "SAE Adam learning rate", 1e-8, 10);
  return t;
}

void check(const sae_lm_task& t) {
  (void)parse_sae_variants(t.kinds);
  if (t.k > t.d_sae) throw tasks::param_error("k", fmt::format("sae_lm: k = {} exceeds d_sae = {}", t.k, t.d_sae));
  if (t.sae_windows > t.num_train)
    throw tasks::param_error("sae_windows", fmt::format("sae_lm: sae_windows {} exceeds num_train {}", t.sae_windows, t.num_train));
}

nlohmann::json corpus_task_json(const sae_lm_task& t) {
  return {{"name", "corpus_lm"}, {"corpus", t.corpus}, {"seq_len", t.seq_len}, {"num_train", t.num_train}, {"num_test", t.num_test}};
}

sae_config sae_config_of(const sae_lm_task& t, const sae_variant& v, std::int64_t d_in, std::uint64_t seed) {
  sae_config c;
  c.kind = v.kind;
  c.d_in = d_in;
  c.d_sae = t.d_sae;
  c.k = t.k;
  c.l1 = t.l1;
  c.aux_coef = v.auxk ? t.aux_coef : 0.0;
  c.k_aux = t.k_aux;
  c.dead_steps = t.dead_steps;
  c.steps = t.sae_steps;
  c.batch = t.sae_batch;
  c.lr = t.sae_lr;
  c.seed = seed;
  return c;
}

void save_sae(const std::string& path, const sae& s, const std::map<std::string, std::string>& meta) {
  auto t = [](const std::vector<double>& v, shape_t shape) { return tensor::from<double>(std::move(shape), std::span<const double>(v)); };
  std::map<std::string, std::string> m = meta;
  m["kind"] = sae_kind_name(s.kind);
  m["k"] = std::to_string(s.k);
  m["threshold"] = fmt::format("{:.17g}", s.threshold);
  nn::save_safetensors(path,
                       {{"W_enc", t(s.W_enc, {s.d_sae, s.d_in})},
                        {"b_enc", t(s.b_enc, {s.d_sae})},
                        {"W_dec", t(s.W_dec, {s.d_sae, s.d_in})},
                        {"b_dec", t(s.b_dec, {s.d_in})}},
                       m);
}

sae load_sae(const std::string& path, std::map<std::string, std::string>* meta) {
  const auto f = nn::safetensors_file::load(path);
  const tensor& we = f.get("W_enc");
  LMLAB_CHECK(we.shape().size() == 2, "{}: W_enc has shape {}, expected (d_sae, d_in)", path, shape_str(we.shape()));
  sae s;
  s.d_sae = we.shape()[0];
  s.d_in = we.shape()[1];
  auto vec = [&](const char* name, shape_t shape) {
    const tensor c = f.get(name, shape, dtype::f64).contiguous_raw();
    return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
  };
  s.W_enc = vec("W_enc", {s.d_sae, s.d_in});
  s.b_enc = vec("b_enc", {s.d_sae});
  s.W_dec = vec("W_dec", {s.d_sae, s.d_in});
  s.b_dec = vec("b_dec", {s.d_in});
  const auto& md = f.metadata();
  auto key = [&](const char* k) {
    const auto it = md.find(k);
    LMLAB_CHECK_HINT(it != md.end(), "write it with `lmlab interp sae --out`", "{}: metadata key '{}' is missing", path, k);
    return it->second;
  };
  s.kind = parse_sae_kind(key("kind"));
  char* end = nullptr;
  const std::string k = key("k"), th = key("threshold");
  s.k = std::strtoll(k.c_str(), &end, 10);
  LMLAB_CHECK(*end == '\0' && !k.empty() && s.k >= 1, "{}: metadata k = '{}' is not a positive integer", path, k);
  s.threshold = std::strtod(th.c_str(), &end);
  LMLAB_CHECK(*end == '\0' && !th.empty(), "{}: metadata threshold = '{}' is not a number", path, th);
  if (meta) *meta = md;
  return s;
}

}  // namespace lmlab::interp

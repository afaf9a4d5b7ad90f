// Hook-name globs, activation caches, head scores, patching and steering: see interp.hpp.
#include "interp/interp.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <regex>
#include <unistd.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "hooks/hooks.hpp"
#include "nn/safetensors.hpp"

namespace lmlab::interp {

// ---- hook names ---------------------------------------------------------------------------

bool glob_match(std::string_view p, std::string_view s) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t i = 0, j = 0, star = std::string_view::npos, mark = 0;
  while (j < s.size()) {
    if (i < p.size() && p[i] == '*') {
      star = i++;
      mark = j;
    } else if (i < p.size() && p[i] == s[j]) {
      ++i;
      ++j;
    } else if (star != std::string_view::npos) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.size() && p[i] == '*') ++i;
  return i == p.size();
}

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> hook_names(const nn::module& m) {
  std::vector<std::string> out;
  for (const nn::hook_point* h : m.hook_points()) out.push_back(h->name());
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

std::vector<std::string> close_matches(const std::vector<std::string>& names, const std::string& name, std::size_t k) {
  std::vector<std::pair<std::size_t, std::string>> d;
  for (const auto& n : names) d.emplace_back(edit_distance(n, name), n);
  std::stable_sort(d.begin(), d.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < d.size() && i < k; ++i) out.push_back(d[i].second);
  return out;
}

std::vector<std::string> match_hooks(const nn::module& m, const std::string& globs) {
  const auto all = hook_names(m);
  std::vector<std::string> pats;
  for (std::size_t a = 0, b; a <= globs.size(); a = b + 1) {
    b = globs.find(',', a);
    if (b == std::string::npos) b = globs.size();
    if (b > a) pats.push_back(globs.substr(a, b - a));
  }
  LMLAB_CHECK(!pats.empty(), "interp: no hook names given");
  std::vector<bool> keep(all.size(), false);
  for (const auto& p : pats) {
    bool any = false;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (glob_match(p, all[i])) keep[i] = any = true;
    if (!any)
      throw error(fmt::format("interp: no hook point matches '{}'", p),
                  all.empty() ? "this model has no hook points" : "close matches: " + join(close_matches(all, p)));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (keep[i]) out.push_back(all[i]);
  return out;
}

std::int64_t layer_of(const std::string& name) {
  if (!name.starts_with("blocks.")) return -1;
  const auto dot = name.find('.', 7);
  try {
    return std::stoll(name.substr(7, dot - 7));
  } catch (const std::exception&) {
    return -1;
  }
}

// ---- cache ----------------------------------------------------------------------------------

std::map<std::string, tensor> cache_activations(models::causal_lm& model, const tensor& ids,
                                                const std::vector<std::string>& names) {
  no_grad ng;
  std::map<std::string, tensor> cache;
  hooks::hook_scope scope(model);
  for (const auto& n : names)
    scope.add(n, [&cache](const tensor& x, const nn::hook_point& where) {
      cache[where.name()] = x.clone_raw();
      return tensor{};
    });
  model.forward(ids);
  return cache;
}

std::uint64_t write_cache(const std::filesystem::path& out, models::causal_lm& model, const tensor& ids,
                          const std::vector<std::string>& names, bool layer_at_a_time,
                          const std::map<std::string, std::string>& metadata) {
  // Groups of names computed together: all at once, or one group per layer (in model order).
  std::vector<std::vector<std::string>> groups;
  if (!layer_at_a_time) {
    groups.push_back(names);
  } else {
    std::map<std::int64_t, std::size_t> at;
    for (const auto& n : names) {
      auto [it, fresh] = at.try_emplace(layer_of(n), groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(n);
    }
  }
  // Shapes and dtypes from one forward that keeps nothing.
  std::map<std::string, std::pair<shape_t, dtype>> meta;
  {
    no_grad ng;
    hooks::hook_scope scope(model);
    for (const auto& n : names)
      scope.add(n, [&meta](const tensor& x, const nn::hook_point& where) {
        meta[where.name()] = {x.shape(), x.type()};
        return tensor{};
      });
    model.forward(ids);
  }
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t off = 0;
  for (const auto& g : groups)
    for (const auto& n : g) {
      const auto& [shape, type] = meta.at(n);
      const std::uint64_t bytes = static_cast<std::uint64_t>(numel_of(shape)) * dtype_size(type);
      header[n] = {{"dtype", nn::safetensors_dtype_name(type)}, {"shape", shape}, {"data_offsets", {off, off + bytes}}};
      off += bytes;
    }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';

  const std::filesystem::path tmp = out.string() + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    LMLAB_CHECK(f.good(), "{}: cannot open for writing", tmp.string());
    std::uint64_t len = h.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(len >> (8 * i));
    f.write(reinterpret_cast<const char*>(le), 8);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& g : groups) {
      auto cache = cache_activations(model, ids, g);  // only this group's activations live
      for (const auto& n : g) {
        const tensor& t = cache.at(n);
        LMLAB_CHECK(t.shape() == meta.at(n).first, "{}: shape changed between forwards", n);
        f.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.numel() * dtype_size(t.type())));
      }
    }
    f.close();
    LMLAB_CHECK(!f.fail(), "{}: write failed (disk full?)", tmp.string());
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  return 8 + h.size() + off;
}

// ---- heads ----------------------------------------------------------------------------------

std::vector<double> induction_scores(const tensor& pattern, std::int64_t n) {
  LMLAB_CHECK(pattern.dim() == 4 && pattern.size(2) == 2 * n && pattern.size(3) == 2 * n,
              "induction_scores: expected a (B, H, {}, {}) pattern, got {}", 2 * n, 2 * n, shape_str(pattern.shape()));
  const std::int64_t B = pattern.size(0), H = pattern.size(1);
  std::vector<double> s(static_cast<std::size_t>(H), 0.0);
  for (std::int64_t h = 0; h < H; ++h) {
    double sum = 0;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = n; i < 2 * n; ++i) sum += pattern.at({b, h, i, i - n + 1});
    s[static_cast<std::size_t>(h)] = sum / static_cast<double>(B * n);
  }
  return s;
}

std::vector<double> prev_token_scores(const tensor& pattern) {
  LMLAB_CHECK(pattern.dim() == 4 && pattern.size(2) == pattern.size(3) && pattern.size(2) >= 2,
              "prev_token_scores: expected a (B, H, T, T) pattern with T >= 2, got {}", shape_str(pattern.shape()));
  const std::int64_t B = pattern.size(0), H = pattern.size(1), T = pattern.size(2);
  std::vector<double> s(static_cast<std::size_t>(H), 0.0);
  for (std::int64_t h = 0; h < H; ++h) {
    double sum = 0;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = 1; i < T; ++i) sum += pattern.at({b, h, i, i - 1});
    s[static_cast<std::size_t>(h)] = sum / static_cast<double>(B * (T - 1));
  }
  return s;
}

tensor repeated_random_tokens(std::int64_t B, std::int64_t n, std::int64_t vocab, std::uint64_t seed) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(B * 2 * n));
  for (std::int64_t b = 0; b < B; ++b) {
    rng r(seed, static_cast<std::uint64_t>(b));
    for (std::int64_t i = 0; i < n; ++i) {
      const auto t = static_cast<std::int32_t>(r.below(static_cast<std::uint64_t>(vocab)));
      v[static_cast<std::size_t>(b * 2 * n + i)] = t;
      v[static_cast<std::size_t>(b * 2 * n + n + i)] = t;
    }
  }
  return tensor::from<std::int32_t>({B, 2 * n}, std::span<const std::int32_t>(v));
}

std::vector<head_score> head_scores(models::causal_lm& model, const heads_options& opt) {
  std::vector<std::string> names;
  for (const auto& n : hook_names(model))
    if (glob_match("blocks.*.attn.hook_pattern", n)) names.push_back(n);
  LMLAB_CHECK_HINT(!names.empty(), "head scores need attention layers (pattern letter A)",
                   "interp heads: the model has no blocks.N.attn.hook_pattern");
  const std::int64_t n = opt.n > 0 ? opt.n : std::min<std::int64_t>(50, model.n_ctx() / 2);
  LMLAB_CHECK(n >= 2 && 2 * n <= model.n_ctx(), "interp heads: 2 x {} tokens do not fit the context of {}", n, model.n_ctx());
  const tensor ids = repeated_random_tokens(opt.batch, n, model.vocab_size(), opt.seed);
  const auto cache = cache_activations(model, ids, names);
  std::vector<head_score> out;
  for (const auto& name : names) {
    const tensor& p = cache.at(name);
    const auto ind = induction_scores(p, n);
    const auto prev = prev_token_scores(p);
    for (std::size_t h = 0; h < ind.size(); ++h)
      out.push_back({layer_of(name), static_cast<std::int64_t>(h), ind[h], prev[h]});
  }
  return out;
}

// ---- patching -------------------------------------------------------------------------------

double logit_diff(const tensor& logits, std::int32_t answer, std::int32_t wrong) {
  LMLAB_CHECK(logits.dim() == 3, "logit_diff: expected (B, T, V) logits, got {}", shape_str(logits.shape()));
  const std::int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  LMLAB_CHECK(answer >= 0 && answer < V && wrong >= 0 && wrong < V, "logit_diff: token ids {} and {} must be below the vocabulary size {}",
              answer, wrong, V);
  double s = 0;
  for (std::int64_t b = 0; b < B; ++b) s += logits.at({b, T - 1, answer}) - logits.at({b, T - 1, wrong});
  return s / static_cast<double>(B);
}

double normalise(double patched, double clean, double corrupted) {
  const double d = clean - corrupted;
  if (std::abs(d) <= 1e-12 * std::max(1.0, std::abs(clean))) return 0.0;
  const double e = (patched - corrupted) / d;
  return e == 0.0 ? 0.0 : e;  // no "-0" when clean < corrupted
}

namespace {

tensor forward_with(models::causal_lm& model, const tensor& ids, const std::string& hook, nn::hook_fn fn) {
  no_grad ng;
  hooks::hook_scope scope(model);
  scope.add(hook, std::move(fn));
  return model.forward(ids);
}

// Copies src's slice [start, start + 1) along dim d into a copy of x.
nn::hook_fn patch_slice(tensor src, std::int64_t d, std::int64_t start) {
  return [src = std::move(src), d, start](const tensor& x, const nn::hook_point& where) {
    LMLAB_CHECK(src.shape() == x.shape(), "{}: clean activation {} vs corrupted {}", where.name(), shape_str(src.shape()),
                shape_str(x.shape()));
    tensor r = x.clone_raw();
    r.narrow_raw(d, start, 1).copy_from(src.narrow_raw(d, start, 1));
    return r;
  };
}

void check_pair(const tensor& clean, const tensor& corrupt) {
  LMLAB_CHECK(clean.shape() == corrupt.shape(), "interp patch: clean ids {} and corrupted ids {} differ in shape",
              shape_str(clean.shape()), shape_str(corrupt.shape()));
}

// Every blocks.N.attn.hook_z of the model; none is an error (per-head patching needs attention).
std::vector<std::string> z_hooks(const nn::module& model) {
  std::vector<std::string> names;
  for (const auto& n : hook_names(model))
    if (glob_match("blocks.*.attn.hook_z", n)) names.push_back(n);
  LMLAB_CHECK_HINT(!names.empty(), "per-head patching needs attention layers; patch the residual stream instead",
                   "interp patch: the model has no blocks.N.attn.hook_z");
  return names;
}

patch_result baseline(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, std::int32_t answer,
                      std::int32_t wrong) {
  no_grad ng;
  patch_result r;
  r.clean = logit_diff(model.forward(clean_ids), answer, wrong);
  r.corrupted = logit_diff(model.forward(corrupt_ids), answer, wrong);
  return r;
}

}  // namespace

patch_result patch_positions(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                             std::int32_t answer, std::int32_t wrong, const std::string& site) {
  check_pair(clean_ids, corrupt_ids);
  const auto names = match_hooks(model, "blocks.*." + site);
  patch_result r = baseline(model, clean_ids, corrupt_ids, answer, wrong);
  const auto clean = cache_activations(model, clean_ids, names);
  for (const auto& name : names) {
    const tensor& c = clean.at(name);
    LMLAB_CHECK(c.dim() >= 2 && c.size(1) == clean_ids.size(1), "{}: not a (B, T, ...) activation: {}", name, shape_str(c.shape()));
    for (std::int64_t t = 0; t < c.size(1); ++t) {
      const double m = logit_diff(forward_with(model, corrupt_ids, name, patch_slice(c, 1, t)), answer, wrong);
      r.cells.push_back({name, layer_of(name), t, m, normalise(m, r.clean, r.corrupted)});
    }
  }
  return r;
}

double logit_diff_rows(const tensor& logits, const std::vector<std::int32_t>& answers, const std::vector<std::int32_t>& wrongs) {
  LMLAB_CHECK(logits.dim() == 3, "logit_diff_rows: expected (B, T, V) logits, got {}", shape_str(logits.shape()));
  const std::int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  LMLAB_CHECK(static_cast<std::int64_t>(answers.size()) == B && static_cast<std::int64_t>(wrongs.size()) == B,
              "logit_diff_rows: {} answers and {} wrong tokens for {} rows", answers.size(), wrongs.size(), B);
  double s = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    const auto a = answers[static_cast<std::size_t>(b)], w = wrongs[static_cast<std::size_t>(b)];
    LMLAB_CHECK(a >= 0 && a < V && w >= 0 && w < V, "logit_diff_rows: token ids {} and {} must be below {}", a, w, V);
    s += logits.at({b, T - 1, a}) - logits.at({b, T - 1, w});
  }
  return s / static_cast<double>(B);
}

patch_result patch_positions(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                             const logits_metric& metric, const std::vector<std::string>& names) {
  check_pair(clean_ids, corrupt_ids);
  patch_result r;
  {
    no_grad ng;
    r.clean = metric(model.forward(clean_ids));
    r.corrupted = metric(model.forward(corrupt_ids));
  }
  const auto clean = cache_activations(model, clean_ids, names);
  for (const auto& name : names) {
    const tensor& c = clean.at(name);
    LMLAB_CHECK(c.dim() >= 2 && c.size(1) == clean_ids.size(1), "{}: not a (B, T, ...) activation: {}", name, shape_str(c.shape()));
    for (std::int64_t t = 0; t < c.size(1); ++t) {
      const double m = metric(forward_with(model, corrupt_ids, name, patch_slice(c, 1, t)));
      r.cells.push_back({name, layer_of(name), t, m, normalise(m, r.clean, r.corrupted)});
    }
  }
  return r;
}

patch_result patch_heads(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, std::int32_t answer,
                         std::int32_t wrong) {
  check_pair(clean_ids, corrupt_ids);
  const std::vector<std::string> names = z_hooks(model);
  patch_result r = baseline(model, clean_ids, corrupt_ids, answer, wrong);
  const auto clean = cache_activations(model, clean_ids, names);
  for (const auto& name : names) {
    const tensor& z = clean.at(name);  // (B, T, H, D)
    for (std::int64_t h = 0; h < z.size(2); ++h) {
      const double m = logit_diff(forward_with(model, corrupt_ids, name, patch_slice(z, 2, h)), answer, wrong);
      r.cells.push_back({name, layer_of(name), h, m, normalise(m, r.clean, r.corrupted)});
    }
  }
  return r;
}

patch_result path_patch(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, std::int32_t answer,
                        std::int32_t wrong, const path_options& opt) {
  check_pair(clean_ids, corrupt_ids);
  const std::string& receiver = opt.receiver;
  const bool to_logits = receiver == "logits";
  LMLAB_CHECK_HINT(opt.head_senders || opt.mlp_senders, "send from heads, MLPs or both", "interp patch: no senders chosen");
  // Heads are frozen (and the only head senders): every hook_z; required when heads send or a
  // q/k/v receiver is asked for, optional (a model without attention) when only MLPs send.
  std::vector<std::string> zs;
  if (opt.head_senders || !to_logits) {
    zs = z_hooks(model);
  } else {
    for (const auto& n : hook_names(model))
      if (glob_match("blocks.*.attn.hook_z", n)) zs.push_back(n);
  }
  std::int64_t receiver_layer = std::numeric_limits<std::int64_t>::max();
  if (!to_logits) {
    static const std::regex qkv(R"(blocks\.\d+\.attn\.hook_[qkv])");
    LMLAB_CHECK_HINT(std::regex_match(receiver, qkv), "use logits or blocks.N.attn.hook_q, hook_k or hook_v",
                     "interp patch: receiver '{}' is not a path's end", receiver);
    match_hooks(model, receiver);
    receiver_layer = layer_of(receiver);
  }
  if (opt.receiver_head >= 0) {
    LMLAB_CHECK_HINT(!to_logits, "name a blocks.N.attn.hook_q|k|v receiver", "interp patch: a receiver head needs a q/k/v receiver, not logits");
    const tensor shape_of = cache_activations(model, clean_ids, {receiver}).at(receiver);
    LMLAB_CHECK(shape_of.dim() == 4 && opt.receiver_head < shape_of.size(2), "interp patch: receiver head {}: {} has {} heads",
                opt.receiver_head, receiver, shape_of.dim() == 4 ? shape_of.size(2) : 0);
  }
  // Senders in forward order: a layer's heads, then its MLP (which reads them).
  struct sender {
    std::string hook;
    std::int64_t layer, head;  // head -1: the MLP
  };
  std::vector<sender> senders;
  std::vector<std::string> mlps;
  if (opt.mlp_senders) mlps = match_hooks(model, "blocks.*.hook_mlp_out");
  patch_result r = baseline(model, clean_ids, corrupt_ids, answer, wrong);
  std::vector<std::string> cached = opt.head_senders ? zs : std::vector<std::string>{};
  cached.insert(cached.end(), mlps.begin(), mlps.end());
  const auto clean = cache_activations(model, clean_ids, cached), corrupt = cache_activations(model, corrupt_ids, zs);
  if (opt.head_senders)
    for (const auto& n : zs)
      for (std::int64_t h = 0; h < clean.at(n).size(2); ++h) senders.push_back({n, layer_of(n), h});
  for (const auto& n : mlps) senders.push_back({n, layer_of(n), -1});
  std::stable_sort(senders.begin(), senders.end(), [](const sender& x, const sender& y) {
    return x.layer != y.layer ? x.layer < y.layer : (x.head < 0 ? 1 : 0) < (y.head < 0 ? 1 : 0);
  });
  for (const sender& s : senders) {
    // An MLP of the receiver's layer runs after its attention: only earlier layers send.
    if (s.layer >= receiver_layer) continue;
    const tensor& src = clean.at(s.hook);
    const std::int64_t h = s.head;
    tensor logits, recorded;
    {
      no_grad ng;
      hooks::hook_scope scope(model);
      for (const auto& n : zs)  // every head frozen at its corrupted value, a sending head clean
        scope.add(n, n == s.hook ? nn::hook_fn([&, h](const tensor& x, const nn::hook_point& w) {
                       return patch_slice(src, 2, h)(hooks::patch_with(corrupt.at(n))(x, w), w);
                     })
                                 : hooks::patch_with(corrupt.at(n)));
      if (h < 0) scope.add(s.hook, hooks::patch_with(src));  // the sending MLP clean
      if (!to_logits)
        scope.add(receiver, [&](const tensor& x, const nn::hook_point&) {
          recorded = x.clone_raw();
          return x;
        });
      logits = model.forward(corrupt_ids);
    }
    if (!to_logits)
      logits = forward_with(model, corrupt_ids, receiver,
                            opt.receiver_head >= 0 ? patch_slice(recorded, 2, opt.receiver_head) : hooks::patch_with(recorded));
    const double m = logit_diff(logits, answer, wrong);
    r.cells.push_back({s.hook, s.layer, h, m, normalise(m, r.clean, r.corrupted)});
  }
  LMLAB_CHECK(!r.cells.empty(), "interp patch: no {} before the receiver {}",
              opt.head_senders && opt.mlp_senders ? "attention layer or MLP" : opt.mlp_senders ? "MLP" : "attention layer", receiver);
  return r;
}

patch_result path_patch_heads(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids,
                              std::int32_t answer, std::int32_t wrong, const std::string& receiver) {
  path_options o;
  o.receiver = receiver;
  return path_patch(model, clean_ids, corrupt_ids, answer, wrong, o);
}

tensor patch_whole(models::causal_lm& model, const tensor& clean_ids, const tensor& corrupt_ids, const std::string& hook) {
  check_pair(clean_ids, corrupt_ids);
  match_hooks(model, hook);  // close-match error for an unknown name
  const auto clean = cache_activations(model, clean_ids, {hook});
  return forward_with(model, corrupt_ids, hook, hooks::patch_with(clean.at(hook)));
}

// ---- logit lens ---------------------------------------------------------------------------

std::vector<std::pair<std::string, tensor>> logit_lens(models::causal_lm& model, const tensor& ids) {
  const auto names = match_hooks(model, "blocks.*.hook_resid_post");
  const auto cache = cache_activations(model, ids, names);
  std::vector<std::pair<std::string, tensor>> out;
  for (const auto& n : names) out.emplace_back(n, forward_with(model, ids, names.back(), hooks::patch_with(cache.at(n))));
  return out;
}

// ---- steering -------------------------------------------------------------------------------

tensor forward_adding_at(models::causal_lm& model, const tensor& ids, const std::string& hook, const std::vector<double>& direction,
                         const std::vector<double>& scales, std::int64_t position) {
  match_hooks(model, hook);
  auto add = [&](const tensor& x, const nn::hook_point& where) {
    LMLAB_CHECK(x.dim() == 3 && x.size(2) == static_cast<std::int64_t>(direction.size()),
                "{}: steering direction of {} for an activation {} (expected (B, T, C))", where.name(), direction.size(),
                shape_str(x.shape()));
    const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2);
    LMLAB_CHECK(scales.size() == 1 || static_cast<std::int64_t>(scales.size()) == B, "{}: {} scales for {} rows", where.name(),
                scales.size(), B);
    const std::int64_t t = position < 0 ? T + position : position;
    LMLAB_CHECK(t >= 0 && t < T, "{}: position {} outside a sequence of {}", where.name(), position, T);
    tensor r = x.clone_raw();
    dispatch_float(r.type(), "steer", [&]<class F>() {
      F* p = r.data<F>();
      for (std::int64_t b = 0; b < B; ++b) {
        const double s = scales.size() == 1 ? scales[0] : scales[static_cast<std::size_t>(b)];
        for (std::int64_t c = 0; c < C; ++c) p[(b * T + t) * C + c] += static_cast<F>(s * direction[static_cast<std::size_t>(c)]);
      }
    });
    return r;
  };
  return forward_with(model, ids, hook, add);
}

std::vector<steer_point> steer_sweep(models::causal_lm& model, const tensor& ids, const std::string& hook,
                                     const tensor& direction, const std::vector<double>& scales, const logits_metric& metric) {
  match_hooks(model, hook);
  double base = 0;
  {
    no_grad ng;
    base = metric(model.forward(ids));
  }
  std::vector<steer_point> out;
  for (double s : scales) {
    auto add = [d = direction, s](const tensor& x, const nn::hook_point& where) {
      LMLAB_CHECK(d.dim() == 1 && x.dim() >= 1 && d.size(0) == x.size(-1), "{}: steering direction {} for an activation {}",
                  where.name(), shape_str(d.shape()), shape_str(x.shape()));
      tensor r = x.clone_raw();
      const std::int64_t C = d.size(0), rows = r.numel() / C;
      const auto dv = d.to_vector();
      dispatch_float(r.type(), "steer", [&]<class T>() {
        T* p = r.data<T>();
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t c = 0; c < C; ++c) p[i * C + c] += static_cast<T>(s * dv[static_cast<std::size_t>(c)]);
      });
      return r;
    };
    const double m = metric(forward_with(model, ids, hook, add));
    out.push_back({s, m, m - base});
  }
  return out;
}

}  // namespace lmlab::interp

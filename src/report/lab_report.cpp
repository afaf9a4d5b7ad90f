// Lab runs from the results store -> report sections (see lab_report.hpp): variants and their
// labels, per-variant statistics over seeds, the four figures, the runs table, the answer
// sentence, and the published results with the rules that check them.
#include "report/lab_report.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <optional>
#include <set>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/arch.hpp"

namespace lmlab::report {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- notes -----------------------------------------------------------------------------

lab_notes load_lab_notes(const fs::path& notes_dir) {
  lab_notes n;
  auto load = [&](const char* file, const char* key) {
    const fs::path p = notes_dir / file;
    LMLAB_CHECK_HINT(fs::exists(p), "run from the repository root or pass --notes DIR (the folder with questions.json)",
                     "report: notes file {} not found", p.string());
    json j;
    try {
      j = json::parse(read_text_file(p));
    } catch (const json::exception& e) {
      throw error(fmt::format("report: {}: not valid JSON: {}", p.string(), e.what()));
    }
    LMLAB_CHECK(j.is_object() && j.contains(key) && j[key].is_array(), "report: {}: expected an object with a \"{}\" array",
                p.string(), key);
    return j;
  };
  n.questions = load("questions.json", "questions");
  n.claims = load("claims.json", "claims");
  return n;
}

namespace {

const json* find_by_id(const json& doc, const char* array_key, const std::string& id) {
  if (!doc.is_object() || !doc.contains(array_key)) return nullptr;
  for (const auto& q : doc[array_key])
    if (q.value("id", "") == id) return &q;
  return nullptr;
}

// ---- variants --------------------------------------------------------------------------

void flatten(const json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j.is_string() ? j.get<std::string>() : j.dump();
}

std::string last_component(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

}  // namespace

std::map<std::string, std::string> variant_key(const json& config) {
  static const std::set<std::string> replicate = {"seed", "run_id", "derived_seed", "question", "experiment"};
  std::map<std::string, std::string> out;
  if (!config.is_object()) return out;
  for (const auto& [k, v] : config.items())
    if (!replicate.count(k)) flatten(v, k, out);
  return out;
}

std::vector<std::string> variant_labels(const std::vector<json>& configs) {
  std::vector<std::map<std::string, std::string>> keys;
  std::set<std::string> all;
  for (const auto& c : configs) {
    keys.push_back(variant_key(c));
    for (const auto& [k, v] : keys.back()) all.insert(k);
  }
  std::vector<std::string> differing;
  for (const auto& k : all) {
    std::set<std::string> values;
    for (const auto& m : keys) {
      const auto it = m.find(k);
      values.insert(it == m.end() ? "-" : it->second);
    }
    if (values.size() > 1) differing.push_back(k);
  }
  std::map<std::string, int> short_count;
  for (const auto& k : differing) ++short_count[last_component(k)];
  std::vector<std::string> labels;
  for (const auto& m : keys) {
    std::string label;
    for (const auto& k : differing) {
      const auto it = m.find(k);
      const std::string name = short_count[last_component(k)] > 1 ? k : last_component(k);
      label += (label.empty() ? "" : " ") + name + "=" + (it == m.end() ? "-" : it->second);
    }
    labels.push_back(label.empty() ? "all runs" : label);
  }
  return labels;
}

// ---- published results -----------------------------------------------------------------

std::span<const expectation> published_expectations() {
  static const expectation table[] = {
      {"recall",
       "attention solves multi-query associative recall, while recurrent mixers with a small state degrade as "
       "num_kv_pairs grows",
       "Arora et al. 2023, Zoology (arXiv:2312.04927)",
       "the best attention variant's accuracy at the hardest slice exceeds every recurrent variant's"},
      {"posenc",
       "ALiBi extrapolates beyond the training length while learned and sinusoidal position embeddings do not; "
       "RoPE extends with interpolation schemes such as YaRN",
       "Press et al. 2022, ALiBi (arXiv:2108.12409), Fig. 1; Peng et al. 2023, YaRN (arXiv:2309.00071)",
       "alibi's accuracy at the longest slice exceeds learned's and sinusoidal's"},
      {"scan",
       "a vanilla seq2seq model solves SCAN's simple split but fails the length and add-jump splits",
       "Lake & Baroni 2018 (arXiv:1711.00350), Experiments 1-3; for Transformers, Ontañón et al. 2022 "
       "(arXiv:2108.04378)",
       "simple split >= 0.90 test accuracy and length / addprim_jump splits < 0.50"},
      {"arith",
       "vanilla Transformers fail on operand lengths outside the training distribution",
       "Anil et al. 2022, Exploring Length Generalization in LLMs (arXiv:2207.04901); Zhou et al. 2024, "
       "Transformers Can Achieve Length Generalization But Not Robustly (arXiv:2402.09371)",
       "every variant's accuracy on out-of-distribution lengths (ood_len slices) is >= 0.20 below its "
       "in-distribution (id) accuracy"},
      {"depth_width",
       "at a fixed parameter count the loss depends only weakly on depth vs width (a few percent over a wide range "
       "of shapes)",
       "Kaplan et al. 2020, Scaling Laws for Neural Language Models (arXiv:2001.08361), Sec. 3.1, Fig. 5",
       "the two variants of different depth whose parameter counts are closest (within 15%; e.g. 4 x 64 and "
       "1 x 128, which the iso-FLOP budget also gives about the same steps) end within 5% of each other's final "
       "training loss"},
      {"hybrid_ratio",
       "hybrids of recurrent and attention layers match or beat pure attention",
       "Lieber et al. 2024, Jamba (arXiv:2403.19887); De et al. 2024, Griffin (arXiv:2402.19427)",
       "the best hybrid's test accuracy is at least the pure-attention accuracy minus its 95% CI half-width "
       "(or 0.02)"},
      {"mod",
       "Mixture-of-Depths matches (or beats) the dense baseline at equal training FLOPs",
       "Raposo et al. 2024, Mixture-of-Depths (arXiv:2404.02258), isoFLOP comparisons",
       "the best MoD variant's test accuracy is at least the best dense variant's minus its 95% CI half-width "
       "(or 0.02)"},
  };
  return table;
}

namespace {

// ---- per-variant statistics ------------------------------------------------------------

struct seed_stat {
  double mean = 0, lo = 0, hi = 0;
  std::size_t n = 0;
  double half() const { return (hi - lo) / 2; }
};

seed_stat stat_of(const std::vector<double>& v) {
  seed_stat s;
  s.n = v.size();
  if (v.empty()) return s;
  if (v.size() >= 2) {
    const auto ci = analysis::mean_ci(v, 0.95);
    s.mean = ci.estimate, s.lo = ci.lo, s.hi = ci.hi;
  } else {
    s.mean = s.lo = s.hi = v[0];
  }
  return s;
}

std::string fmt2(double v) { return fmt::format("{:.2f}", v); }
// "0.98 ± 0.02" (two or more seeds) or "0.98" (one).
std::string mean_pm(const seed_stat& s) { return s.n >= 2 ? fmt2(s.mean) + " ± " + fmt2(s.half()) : fmt2(s.mean); }

struct variant {
  std::string label;
  json config;                 // the first run's config (for the rules)
  std::vector<std::int64_t> seeds;  // finished runs
  std::vector<std::string> failures;  // "seed 2: reason"
  std::vector<double> accuracy, train_accuracy, final_loss, params, train_flops, steps;
  seed_stat acc;                    // test accuracy, slice "all"
  std::map<std::string, std::vector<double>> slice_acc;  // test split per slice
  // Inference-time variants of the same runs: split "test@yarn:4" -> slice -> accuracies.
  std::map<std::string, std::map<std::string, std::vector<double>>> rescaled_slice_acc;
  std::size_t runs = 0;
};

struct slice_info {
  std::string name;
  double difficulty = 0;
};

struct experiment_data {
  std::string id;
  std::vector<variant> variants;        // in order of first run
  std::vector<slice_info> slices;       // test slices, ordered by (difficulty, name)
  std::size_t runs = 0, failed = 0;
};

std::int64_t seed_of(const store::run_info& r, std::int64_t fallback) {
  if (r.config.contains("seed") && r.config["seed"].is_number_integer()) return r.config["seed"].get<std::int64_t>();
  return r.seed.value_or(fallback);
}

const variant* find_variant(const experiment_data& d, const std::function<bool(const variant&)>& pred, bool best,
                            const std::function<double(const variant&)>& score) {
  const variant* out = nullptr;
  for (const auto& v : d.variants) {
    if (v.accuracy.empty() || !pred(v)) continue;
    if (!out || (best ? score(v) > score(*out) : score(v) < score(*out))) out = &v;
  }
  return out;
}

double slice_mean(const variant& v, const std::string& slice) {
  const auto it = v.slice_acc.find(slice);
  if (it == v.slice_acc.end() || it->second.empty()) return NAN;
  return stat_of(it->second).mean;
}

std::string model_str(const variant& v, const char* key, const char* dflt) {
  if (!v.config.contains("model") || !v.config["model"].contains(key)) return dflt;
  const json& j = v.config["model"][key];
  return j.is_string() ? j.get<std::string>() : j.dump();
}
// The layer pattern, also when the spec named it by the lab's `arch`/`mixer` shorthand.
std::string pattern_of(const variant& v) {
  const std::string p = model_str(v, "pattern", "");
  if (!p.empty()) return p;
  for (const char* key : {"arch", "mixer"}) {
    const std::string from_arch = models::pattern_for_arch(model_str(v, key, ""));
    if (!from_arch.empty()) return from_arch;
  }
  return "A";
}
bool all_attention(const variant& v) {
  const auto p = pattern_of(v);
  return !p.empty() && p.find_first_not_of('A') == std::string::npos;
}
bool no_attention(const variant& v) { return pattern_of(v).find('A') == std::string::npos; }
bool hybrid(const variant& v) { return !all_attention(v) && !no_attention(v); }
double mod_capacity(const variant& v) {
  if (!v.config.contains("model")) return 0;
  const json& m = v.config["model"];
  return m.contains("mod_capacity") && m["mod_capacity"].is_number() ? m["mod_capacity"].get<double>() : 0.0;
}

const char* kAgree = "Our measurement agrees: ";
const char* kDiffer = "Our measurement differs: ";
std::string undecided(const std::string& why) { return "Not decided automatically: " + why + "."; }

// Two variants compared on a score at one slice: the best of `a` must beat the best of `b`.
std::string compare_at_hardest(const experiment_data& d, const std::function<bool(const variant&)>& is_a,
                               const std::string& a_name, const std::function<bool(const variant&)>& is_b,
                               const std::string& b_name) {
  if (d.slices.empty()) return undecided("the runs have no test slices");
  const std::string hard = d.slices.back().name;
  auto score = [&](const variant& v) {
    const double m = slice_mean(v, hard);
    return std::isnan(m) ? -1.0 : m;
  };
  const variant* a = find_variant(d, is_a, true, score);
  const variant* b = find_variant(d, is_b, true, score);
  if (!a || !b)
    return undecided(fmt::format("the experiment needs finished runs of both {} and {} variants", a_name, b_name));
  if (score(*a) > score(*b))
    return kAgree + fmt::format("at the hardest slice ({}) {} ({}) reaches {}, above every {} variant (best: {} at {}).",
                                hard, a_name, a->label, fmt2(score(*a)), b_name, b->label, fmt2(score(*b)));
  return kDiffer + fmt::format("at the hardest slice ({}) the {} variant {} reaches {}, at or above {} ({} at {}).", hard,
                               b_name, b->label, fmt2(score(*b)), a_name, a->label, fmt2(score(*a)));
}

std::string agreement(const experiment_data& d) {
  auto acc = [](const variant& v) { return v.acc.mean; };
  auto tolerance = [](const variant& v) { return v.acc.n >= 2 ? std::max(v.acc.half(), 0.02) : 0.02; };
  if (d.id == "recall") return compare_at_hardest(d, all_attention, "attention", no_attention, "recurrent");
  if (d.id == "posenc") {
    auto is = [](const char* pe) { return [pe](const variant& v) { return model_str(v, "pos_encoding", "learned") == pe; }; };
    auto learned_or_sin = [](const variant& v) {
      const auto pe = model_str(v, "pos_encoding", "learned");
      return pe == "learned" || pe == "sinusoidal";
    };
    return compare_at_hardest(d, is("alibi"), "ALiBi", learned_or_sin, "learned/sinusoidal");
  }
  if (d.id == "scan") {
    auto split_is = [](const std::string& s) {
      return [s](const variant& v) { return v.config.contains("task") && v.config["task"].value("split", "simple") == s; };
    };
    const variant* simple = find_variant(d, split_is("simple"), true, acc);
    if (!simple) return undecided("no finished run of the simple split");
    std::vector<const variant*> hard;
    for (const char* s : {"length", "addprim_jump"})
      if (const variant* v = find_variant(d, split_is(s), true, acc)) hard.push_back(v);
    if (hard.empty()) return undecided("no finished run of the length or addprim_jump split");
    std::string list;
    bool hard_fail = true;
    for (const auto* v : hard) {
      list += fmt::format("{}{} {}", list.empty() ? "" : ", ", v->label, fmt2(v->acc.mean));
      hard_fail = hard_fail && v->acc.mean < 0.5;
    }
    if (simple->acc.mean >= 0.9 && hard_fail)
      return kAgree + fmt::format("the simple split reaches {} while the harder splits stay below 0.50 ({}).",
                                  fmt2(simple->acc.mean), list);
    if (simple->acc.mean < 0.9)
      return kDiffer + fmt::format("our model does not solve even the simple split ({} < 0.90; harder splits: {}).",
                                   fmt2(simple->acc.mean), list);
    return kDiffer + fmt::format("the simple split reaches {} and a harder split reaches 0.50 or more ({}).",
                                 fmt2(simple->acc.mean), list);
  }
  if (d.id == "arith") {
    double best_id = -1;
    std::string worst;
    double worst_gap = INFINITY;
    for (const auto& v : d.variants) {
      std::vector<double> id, ood;
      for (const auto& [s, vals] : v.slice_acc) {
        if (s.rfind("id/", 0) == 0) id.push_back(stat_of(vals).mean);
        if (s.rfind("ood_len/", 0) == 0) ood.push_back(stat_of(vals).mean);
      }
      if (id.empty() || ood.empty()) continue;
      const double mi = stat_of(id).mean, mo = stat_of(ood).mean;
      best_id = std::max(best_id, mi);
      if (mi - mo < worst_gap) worst_gap = mi - mo, worst = fmt::format("{} (in distribution {}, longer operands {})", v.label, fmt2(mi), fmt2(mo));
    }
    if (best_id < 0) return undecided("the runs have no id/ and ood_len/ test slices");
    if (best_id < 0.5) return undecided(fmt::format("in-distribution accuracy is at most {}: the models did not learn the task", fmt2(best_id)));
    if (worst_gap >= 0.2) return kAgree + fmt::format("every variant drops by 0.20 or more on longer operands; the smallest drop is {}.", worst);
    return kDiffer + fmt::format("{} drops by less than 0.20 on longer operands.", worst);
  }
  if (d.id == "depth_width") {
    // Kaplan et al.'s claim is about shape at a fixed size: compare the pair of variants with
    // different depth and the closest parameter counts, not models of different sizes (at a
    // fixed FLOP budget those differ for other reasons: Hoffmann et al. 2022, Fig. 3).
    auto depth = [](const variant& v) { return v.config.value("model", json::object()).value("n_layers", std::int64_t{0}); };
    const variant *a = nullptr, *b = nullptr;
    double best_gap = INFINITY;
    for (std::size_t i = 0; i < d.variants.size(); ++i)
      for (std::size_t j = i + 1; j < d.variants.size(); ++j) {
        const variant &u = d.variants[i], &w = d.variants[j];
        if (u.final_loss.empty() || w.final_loss.empty() || u.params.empty() || w.params.empty() || depth(u) == depth(w))
          continue;
        const double pu = stat_of(u.params).mean, pw = stat_of(w.params).mean;
        const double gap = std::abs(pu - pw) / std::max(pu, pw);
        if (gap < best_gap) best_gap = gap, a = &u, b = &w;
      }
    if (!a || best_gap > 0.15)
      return undecided("no two variants of different depth have parameter counts within 15% of each other");
    const double la = stat_of(a->final_loss).mean, lb = stat_of(b->final_loss).mean;
    const double spread = std::abs(la - lb) / std::min(la, lb);
    const std::string what = fmt::format(
        "at about equal size ({} and {} parameters) {} ends at a final training loss of {:.3f} and {} at {:.3f}, "
        "{:.1f}% apart",
        static_cast<std::int64_t>(stat_of(a->params).mean), static_cast<std::int64_t>(stat_of(b->params).mean), a->label,
        la, b->label, lb, 100 * spread);
    return (spread <= 0.05 ? kAgree : kDiffer) + what + ".";
  }
  if (d.id == "hybrid_ratio" || d.id == "mod") {
    const bool is_mod = d.id == "mod";
    auto is_new = [is_mod](const variant& v) {
      return is_mod ? mod_capacity(v) > 0 : hybrid(v);
    };
    auto is_base = [is_mod](const variant& v) {
      return is_mod ? mod_capacity(v) == 0 : all_attention(v);
    };
    const std::string new_name = is_mod ? "MoD" : "hybrid", base_name = is_mod ? "dense" : "pure attention";
    const variant* n = find_variant(d, is_new, true, acc);
    const variant* b = find_variant(d, is_base, true, acc);
    if (!n || !b)
      return undecided(fmt::format("the experiment needs finished runs of both {} and {} variants", new_name, base_name));
    const std::string what = fmt::format("the best {} ({}) reaches {} vs {} ({}) at {}", new_name, n->label,
                                         mean_pm(n->acc), base_name, b->label, mean_pm(b->acc));
    if (n->acc.mean >= b->acc.mean - tolerance(*b)) return kAgree + what + ".";
    return kDiffer + what + fmt::format(", below it by more than {}.", fmt2(tolerance(*b)));
  }
  return undecided(fmt::format("no published result is recorded for '{}'", d.id));
}

// ---- gathering -------------------------------------------------------------------------

experiment_data gather(const std::string& id, const std::vector<lab_run>& runs) {
  experiment_data d;
  d.id = id;
  d.runs = runs.size();
  std::vector<json> configs;
  for (const auto& r : runs) configs.push_back(r.info.config);
  const auto labels = variant_labels(configs);
  std::map<std::string, std::size_t> index;
  std::map<std::string, double> difficulty;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    auto [it, inserted] = index.try_emplace(labels[i], d.variants.size());
    if (inserted) {
      d.variants.emplace_back();
      d.variants.back().label = labels[i];
      d.variants.back().config = r.info.config;
    }
    variant& v = d.variants[it->second];
    ++v.runs;
    const std::int64_t seed = seed_of(r.info, static_cast<std::int64_t>(i));
    if (r.info.status != store::run_status::finished) {
      ++d.failed;
      const std::string reason = r.info.status == store::run_status::failed
                                     ? (r.info.failure_reason.empty() ? "no reason recorded" : r.info.failure_reason)
                                     : std::string("not finished (") + std::string(store::to_string(r.info.status)) + ")";
      v.failures.push_back(fmt::format("seed {}: {}", seed, reason));
      continue;
    }
    v.seeds.push_back(seed);
    for (const auto& e : r.evaluations) {
      if (e.split == "test" && e.slice == "all" && e.metric == "accuracy") v.accuracy.push_back(e.value);
      if (e.split == "train" && e.slice == "all" && e.metric == "accuracy") v.train_accuracy.push_back(e.value);
      if (e.split == "test" && e.slice != "all" && e.metric == "accuracy") {
        v.slice_acc[e.slice].push_back(e.value);
        difficulty.try_emplace(e.slice, NAN);
      }
      if (e.split == "test" && e.slice != "all" && e.metric == "difficulty") difficulty[e.slice] = e.value;
      if (e.split.rfind("test@", 0) == 0 && e.slice != "all" && e.metric == "accuracy")
        v.rescaled_slice_acc[e.split.substr(5)][e.slice].push_back(e.value);
    }
    for (const auto& m : r.metrics) {
      if (m.name == "final_train_loss") v.final_loss.push_back(m.value);
      if (m.name == "n_params") v.params.push_back(m.value);
      if (m.name == "train_flops") v.train_flops.push_back(m.value);
      if (m.name == "steps") v.steps.push_back(m.value);
    }
  }
  for (auto& v : d.variants) v.acc = stat_of(v.accuracy);
  for (const auto& [name, diff] : difficulty) d.slices.push_back({name, diff});
  std::stable_sort(d.slices.begin(), d.slices.end(), [](const slice_info& a, const slice_info& b) {
    const double da = std::isnan(a.difficulty) ? INFINITY : a.difficulty;
    const double db = std::isnan(b.difficulty) ? INFINITY : b.difficulty;
    return da != db ? da < db : a.name < b.name;
  });
  return d;
}

// ---- sentences -------------------------------------------------------------------------

std::string answer_sentence(const experiment_data& d) {
  std::vector<const variant*> done;
  for (const auto& v : d.variants)
    if (!v.accuracy.empty()) done.push_back(&v);
  std::string s;
  if (done.empty()) {
    s = fmt::format("No run finished with a test accuracy: {} of {} runs failed (listed in the table).", d.failed, d.runs);
    return s;
  }
  std::stable_sort(done.begin(), done.end(), [](const variant* a, const variant* b) { return a->acc.mean > b->acc.mean; });
  std::size_t nmin = SIZE_MAX, nmax = 0;
  for (const auto* v : done) nmin = std::min(nmin, v->acc.n), nmax = std::max(nmax, v->acc.n);
  if (done.size() == 1) {
    s = fmt::format("{} reached {} test accuracy ({} seed{}).", done[0]->label == "all runs" ? "All runs" : done[0]->label, mean_pm(done[0]->acc), nmin,
                    nmin == 1 ? "" : "s");
  } else {
    const std::string seeds = nmin == nmax ? fmt::format("{} seed{} each", nmin, nmin == 1 ? "" : "s")
                                           : fmt::format("{}-{} seeds per variant", nmin, nmax);
    s = fmt::format("Best: {} at {} test accuracy; worst: {} at {} ({}).", done.front()->label,
                    mean_pm(done.front()->acc), done.back()->label, mean_pm(done.back()->acc), seeds);
  }
  if (d.failed > 0)
    s += fmt::format(" {} of {} runs failed (listed in the table).", d.failed, d.runs);
  return s;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// The question paragraph: English question, the notes' own note, and the wrong/imprecise
// claims of the notes ("The notes say X; the sources say Y").
std::string question_text(const std::string& id, const json* q, const lab_notes& notes, const std::vector<lab_run>& runs) {
  std::string s;
  if (q) {
    s = q->value("question_en", "");
    if (q->contains("note")) s += " Note: " + (*q)["note"].get<std::string>();
    for (const auto& cid : q->value("related_claims", std::vector<std::string>{})) {
      const json* c = find_by_id(notes.claims, "claims", cid);
      if (!c) continue;
      const std::string verdict = c->value("verdict", "");
      if (verdict != "wrong" && verdict != "imprecise") continue;
      s += fmt::format(" [{} claim, line {}] The notes say \"{}\"; the sources say: {} ({})", verdict,
                       c->contains("line") ? (*c)["line"].dump() : "?", c->value("claim_en", ""),
                       c->value("correction", ""), c->value("source", ""));
    }
  } else {
    for (const auto& r : runs)
      if (r.info.config.contains("question") && r.info.config["question"].is_string()) {
        s = r.info.config["question"].get<std::string>();
        break;
      }
    s += (s.empty() ? "" : " ") + fmt::format("(No entry for '{}' in data/notes/questions.json.)", id);
  }
  return s;
}

std::string section_title(const std::string& id) {
  static const std::map<std::string, std::string> titles = {
      {"recall", "Associative recall: attention vs recurrent mixers"},
      {"posenc", "Length extrapolation of positional encodings"},
      {"scan", "Compositional generalisation: SCAN splits"},
      {"arith", "Base-N arithmetic in and out of distribution"},
      {"depth_width", "Depth vs width at a fixed budget"},
      {"hybrid_ratio", "Hybrid ratio of recurrent and attention layers"},
      {"mod", "Mixture-of-Depths vs dense at equal FLOPs"}};
  const auto it = titles.find(id);
  return it == titles.end() ? id : it->second;
}

std::string file_id(const std::string& experiment) {
  std::string s;
  for (char c : experiment) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s += (std::isalnum(static_cast<unsigned char>(l)) || l == '_' || l == '-') ? l : '-';
  }
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) s = "x" + s;
  return s;
}

// Orders a categorical x axis (slices by difficulty) in every layer of a builder spec.
void sort_x(json& spec, const std::vector<std::string>& order) {
  if (spec.contains("encoding") && spec["encoding"].contains("x")) spec["encoding"]["x"]["sort"] = order;
  if (spec.contains("layer"))
    for (auto& l : spec["layer"]) sort_x(l, order);
}

// Integer display without a decimal point (parameter counts).
cell count_cell(double v) {
  cell c(static_cast<std::int64_t>(std::llround(v)));
  return c;
}

}  // namespace

// ---- the section -----------------------------------------------------------------------

section lab_experiment_section(const std::string& experiment, const std::vector<lab_run>& runs, const lab_notes& notes) {
  const experiment_data d = gather(experiment, runs);
  const std::string fid = file_id(experiment);
  section s;
  s.id = fid;
  s.title = section_title(experiment);
  const json* q = find_by_id(notes.questions, "questions", experiment);
  s.question = question_text(experiment, q, notes, runs);
  if (q) {
    s.quote = join(q->value("quotes", std::vector<std::string>{q->value("quote", "")}), " … ");
    std::vector<std::string> lines;
    for (const auto& l : q->value("lines", json::array())) lines.push_back(l.dump());
    s.quote_source = fmt::format("{}, line{} {} ({})", notes.questions.value("notes", "shared/seed/open-problems.ko.md"),
                                 lines.size() == 1 ? "" : "s", join(lines, ", "), q->value("section", ""));
  }
  s.answer = answer_sentence(d);
  std::string comparison;
  for (const auto& e : published_expectations())
    if (e.experiment == experiment)
      comparison = fmt::format("Published: {} ({}). Rule: {}. ", e.published, e.citation, e.rule);
  s.comparison = comparison + agreement(d);

  std::vector<std::string> slice_order;
  for (const auto& sl : d.slices) slice_order.push_back(sl.name);
  std::map<std::string, std::string> label_of;
  {
    std::vector<json> configs;
    for (const auto& r : runs) configs.push_back(r.info.config);
    const auto labels = variant_labels(configs);
    for (std::size_t i = 0; i < runs.size(); ++i) label_of[runs[i].info.name] = labels[i];
  }

  // (1) loss curves: mean over seeds per (variant, step).
  table loss_rows({"variant", "step", "train_loss"});
  for (const auto& r : runs) {
    if (r.info.status != store::run_status::finished) continue;
    for (const auto& m : r.metrics)
      if (m.name == "train_loss") loss_rows.add_row({label_of[r.info.name], m.step, m.value});
  }
  if (!loss_rows.rows().empty()) {
    table t = mean_ci_by_group(loss_rows, {"variant", "step"}, "train_loss");
    figure f = line_plot(fid + "-loss", "Training loss (mean over seeds)", std::move(t), axis("step", "training step"),
                         axis("mean", "train loss"), "variant");
    f.caption = "One line per variant; the CSV also holds the 95% CI over seeds (lo, hi) and the seed count n.";
    s.figures.push_back(std::move(f));
  }

  // (2) accuracy per slice with mean ± 95% CI over seeds; (3) the same as a heatmap.
  table slice_rows({"variant", "slice", "difficulty", "accuracy"});
  for (const auto& sl : d.slices)
    for (const auto& v : d.variants) {
      const auto it = v.slice_acc.find(sl.name);
      if (it == v.slice_acc.end()) continue;
      for (double a : it->second)
        slice_rows.add_row({v.label, sl.name, std::isnan(sl.difficulty) ? cell("") : cell(sl.difficulty), a});
    }
  // Evaluations of the same checkpoints under an inference-time change (RoPE rescaling): their
  // own series, "<variant> @yarn:4", on the same slices.
  for (const auto& v : d.variants)
    for (const auto& [how, per_slice] : v.rescaled_slice_acc)
      for (const auto& sl : d.slices) {
        const auto it = per_slice.find(sl.name);
        if (it == per_slice.end()) continue;
        for (double a : it->second)
          slice_rows.add_row({v.label + " @" + how, sl.name, std::isnan(sl.difficulty) ? cell("") : cell(sl.difficulty), a});
      }
  if (!slice_rows.rows().empty()) {
    table t = mean_ci_by_group(slice_rows, {"variant", "slice", "difficulty"}, "accuracy");
    // Accuracy lives in [0, 1]; a t-interval over 2-3 seeds can reach past it, so the plotted
    // interval is clipped there (the columns say so).
    table plotted({"variant", "slice", "difficulty", "mean", "lo_clipped", "hi_clipped", "n"});
    for (const auto& r : t.rows())
      plotted.add_row({r[0], r[1], r[2], r[3], std::clamp(*r[4].number, 0.0, 1.0), std::clamp(*r[5].number, 0.0, 1.0), r[6]});
    // A numeric axis when every slice has its own difficulty (kv=4, kv=16 ... -> 4, 16),
    // log-scaled when the values span 8x or more; else the slice names in difficulty order.
    std::set<double> diffs;
    std::set<std::string> prefixes;
    bool numeric = true;
    for (const auto& sl : d.slices) {
      numeric = numeric && !std::isnan(sl.difficulty);
      diffs.insert(sl.difficulty);
      const auto eq = sl.name.find('=');
      prefixes.insert(eq == std::string::npos ? "" : sl.name.substr(0, eq));
    }
    numeric = numeric && diffs.size() == d.slices.size() && d.slices.size() >= 2;
    const std::string what = prefixes.size() == 1 && !prefixes.begin()->empty() ? *prefixes.begin() : "difficulty";
    axis x = numeric ? axis("difficulty", what + " (slice difficulty)") : axis("slice", "difficulty slice").ordinal();
    if (numeric && *diffs.begin() > 0 && *diffs.rbegin() >= 8 * *diffs.begin()) x.log_scale();
    figure f = error_bar_plot(fid + "-slices", "Test accuracy per difficulty slice (mean ± 95% CI over seeds)",
                              std::move(plotted), x, axis("mean", "test accuracy").with_domain(0, 1), "lo_clipped",
                              "hi_clipped", "variant");
    if (!numeric) {
      sort_x(f.spec, slice_order);
      for (auto& l : f.spec["layer"]) l["encoding"]["x"]["axis"]["labelAngle"] = 0;
      f.spec["layer"][1]["mark"]["ticks"] = {{"size", 10}};  // caps, not band-wide lines
    }
    f.caption = "Error bars: Student-t 95% intervals over seeds, clipped to [0, 1].";
    s.figures.push_back(std::move(f));
    figure h = heatmap(fid + "-heatmap", "Test accuracy by slice × variant (mean over seeds)", t,
                       axis("slice", "difficulty slice").ordinal(), axis("variant").nominal(),
                       axis("mean", "accuracy").with_domain(0, 1));
    sort_x(h.spec, slice_order);
    s.figures.push_back(std::move(h));
  }

  // (4) final test accuracy per variant, and the table of variants.
  table bars({"variant", "mean", "lo", "hi", "n"});
  table runs_table({"variant", "seeds", "finished", "failed", "params", "steps", "train FLOPs", "test accuracy", "test accuracy mean",
                    "ci95 half-width", "train accuracy", "final train loss", "failures"});
  for (const auto& v : d.variants) {
    if (!v.accuracy.empty()) bars.add_row({v.label, v.acc.mean, v.acc.lo, v.acc.hi, v.acc.n});
    std::vector<std::string> seeds;
    for (auto sd : v.seeds) seeds.push_back(std::to_string(sd));
    runs_table.add_row({v.label, join(seeds, ","), v.seeds.size(), v.failures.size(),
                        v.params.empty() ? cell("") : count_cell(stat_of(v.params).mean),
                        v.steps.empty() ? cell("") : count_cell(stat_of(v.steps).mean),
                        v.train_flops.empty() ? cell("") : cell(fmt::format("{:.3g}", stat_of(v.train_flops).mean)),
                        v.accuracy.empty() ? cell("-") : cell(mean_pm(v.acc)),
                        v.accuracy.empty() ? cell("") : cell(v.acc.mean),
                        v.acc.n >= 2 ? cell(v.acc.half()) : cell(""),
                        v.train_accuracy.empty() ? cell("") : cell(stat_of(v.train_accuracy).mean),
                        v.final_loss.empty() ? cell("") : cell(stat_of(v.final_loss).mean),
                        v.failures.empty() ? cell("") : cell(join(v.failures, "; "))});
  }
  if (!bars.rows().empty()) {
    figure f = bar_chart(fid + "-final", "Final test accuracy per variant (mean over seeds)", std::move(bars),
                         axis("variant").nominal(), axis("mean", "test accuracy").with_domain(0, 1));
    f.caption = "The CSV holds the 95% CI over seeds (lo, hi) and the seed count n.";
    s.figures.push_back(std::move(f));
  }
  s.tables.push_back({fid + "-runs", "Runs per variant (mean ± 95% CI over seeds; failed runs with their reason)",
                      std::move(runs_table)});
  return s;
}

// ---- the store -------------------------------------------------------------------------

namespace {

std::string experiment_of(const store::run_info& r) {
  if (r.config.contains("experiment") && r.config["experiment"].is_string()) return r.config["experiment"].get<std::string>();
  const auto slash = r.name.find('/');
  return slash == std::string::npos ? r.name : r.name.substr(0, slash);
}

}  // namespace

std::vector<std::string> lab_experiments(store::results_store& db, const lab_notes& notes) {
  std::set<std::string> present;
  for (const auto& r : db.list_runs("lab")) present.insert(experiment_of(r));
  std::vector<std::string> out;
  if (notes.questions.is_object() && notes.questions.contains("questions"))
    for (const auto& q : notes.questions["questions"]) {
      const std::string id = q.value("id", "");
      if (present.erase(id)) out.push_back(id);
    }
  out.insert(out.end(), present.begin(), present.end());
  return out;
}

std::vector<section> lab_report_sections(store::results_store& db, const lab_report_options& opt) {
  const lab_notes notes = load_lab_notes(opt.notes_dir);
  const auto all_runs = db.list_runs("lab");
  LMLAB_CHECK_HINT(!all_runs.empty(), "run an experiment first: lmlab lab run experiments/recall.toml --store " + db.path().string(),
                   "report: {}: the store has no lab runs", db.path().string());
  const auto present = lab_experiments(db, notes);
  std::vector<std::string> chosen = present;
  if (!opt.filter.empty()) {
    for (const auto& f : opt.filter)
      LMLAB_CHECK_HINT(std::find(present.begin(), present.end(), f) != present.end(),
                       "experiments in the store: " + join(present, ", "),
                       "report: --filter: no lab runs of experiment '{}' in {}", f, db.path().string());
    chosen.clear();
    for (const auto& p : present)
      if (std::find(opt.filter.begin(), opt.filter.end(), p) != opt.filter.end()) chosen.push_back(p);
  }
  std::vector<section> out;
  for (const auto& e : chosen) {
    std::vector<lab_run> runs;
    for (const auto& r : all_runs) {
      if (experiment_of(r) != e) continue;
      runs.push_back({r, db.metrics(r.id), db.evaluations(r.id)});
    }
    out.push_back(lab_experiment_section(e, runs, notes));
  }
  return out;
}

document lab_report_document(store::results_store& db, const lab_report_options& opt) {
  document doc;
  doc.title = "lmlab report";
  doc.subtitle = "Lab experiments: one section per open question of the notes, measured on small models";
  doc.sections = lab_report_sections(db, opt);
  const auto runs = db.list_runs("lab");
  std::size_t finished = 0;
  std::set<std::string> git, hosts;
  for (const auto& r : runs) {
    finished += r.status == store::run_status::finished;
    if (!r.git_hash.empty()) git.insert(r.git_hash);
    if (!r.host.empty()) hosts.insert(r.host);
  }
  doc.provenance.emplace_back("store", db.path().string());
  doc.provenance.emplace_back("lab runs", fmt::format("{} ({} finished)", runs.size(), finished));
  if (!git.empty()) doc.provenance.emplace_back("git", join({git.begin(), git.end()}, ", "));
  if (!hosts.empty()) doc.provenance.emplace_back("host", join({hosts.begin(), hosts.end()}, ", "));
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc.provenance.emplace_back("generated", buf);
  return doc;
}

}  // namespace lmlab::report

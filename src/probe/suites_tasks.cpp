// Suites built from the lab's synthetic tasks (src/tasks/), asked of a served model as
// generation prompts (research notes section 4, "understanding vs memorisation"):
//   perturbation   GSM-Symbolic-style word-problem variants (numbers / names / both / NoOp /
//                  extra step vs the template's original) and base-b addition of the same digit
//                  strings in base 10, 9, 8 and 7 (the notes' 243₇ + 156₇ is problem 0);
//                  accuracy per variant, the drop vs the original, the variance across
//                  variants, all with standard errors clustered by template (variants of one
//                  template are not independent draws).
//   compositional  SCAN few-shot prompts per standard split (simple, length, add-jump,
//                  add-turn-left): k demonstrations from the split's train set, the query from
//                  its test set; exact match of the action sequence; Wilson intervals per split.
// Answer extraction rules are in the comments of last_number / last_base_number /
// scan_actions and in docs/probe.md.
// Not for: the generators themselves (tasks/), the statistics (analysis/stats.hpp).
#ifdef LMLAB_PROBE_HAS_TASKS

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "probe/suites.hpp"
#include "probe/suites_tasks.hpp"
#include "tasks/arithmetic.hpp"
#include "tasks/scan.hpp"
#include "tasks/word_problems.hpp"

namespace lmlab::probe {
namespace {
using json = nlohmann::json;

// FNV-1a of an item id: each item draws from its own stream, so adding items never shifts others.
std::uint64_t stream_of(const std::string& id) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Whether the word ending just before byte `pos` (skipping spaces, '-' and '=') is "base":
// a number written as "base 10", "base-7" names the base, not the answer.
bool follows_base_word(std::string_view text, std::size_t pos) {
  std::size_t p = pos;
  while (p > 0 && (text[p - 1] == ' ' || text[p - 1] == '-' || text[p - 1] == '=')) --p;
  if (p < 4) return false;
  std::string w(text.substr(p - 4, 4));
  for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return w == "base" && (p == 4 || !is_alnum(text[p - 5]));
}

}  // namespace

// Extraction rules: see suites_tasks.hpp.
std::optional<double> last_number(std::string_view text) {
  std::optional<double> last;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]) || (i > 0 && (is_alnum(text[i - 1]) || text[i - 1] == '.'))) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    std::string num;
    while (i < text.size() && is_digit(text[i])) num += text[i++];
    // Thousands groups: ",ddd" not followed by another digit.
    while (i + 3 < text.size() && text[i] == ',' && is_digit(text[i + 1]) && is_digit(text[i + 2]) &&
           is_digit(text[i + 3]) && (i + 4 >= text.size() || !is_digit(text[i + 4]))) {
      num += text.substr(i + 1, 3);
      i += 4;
    }
    if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
      num += '.';
      ++i;
      while (i < text.size() && is_digit(text[i])) num += text[i++];
    }
    if (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) continue;  // "3rd", "2x": not a number
    if (follows_base_word(text, start)) continue;
    // A subscript names the base: "399_10", "399_{10}".
    if (start > 0 && (text[start - 1] == '_' || (text[start - 1] == '{' && start > 1 && text[start - 2] == '_'))) continue;
    const bool negative = start > 0 && text[start - 1] == '-' && (start == 1 || !is_alnum(text[start - 2]));
    // strtod, not stod: 400 digits (or 0.000...1) are a huge (or tiny) number, not an
    // out_of_range exception that would fail the sample on every rerun of its cached reply.
    last = (negative ? -1.0 : 1.0) * std::strtod(num.c_str(), nullptr);
  }
  return last;
}

std::optional<std::string> last_base_number(std::string_view text, int base) {
  LMLAB_CHECK(base >= 2 && base <= 36, "last_base_number: base {} outside [2, 36]", base);
  if (base == 10) {
    const auto v = last_number(text);
    if (!v || *v < 0 || *v != std::floor(*v) || *v > 9.007e15) return std::nullopt;
    return fmt::format("{}", static_cast<std::int64_t>(*v));
  }
  std::optional<std::string> last;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_alnum(text[i])) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < text.size() && is_alnum(text[i])) ++i;
    std::string w(text.substr(start, i - start));
    bool ok = true, has_decimal = false, all_upper = true;
    for (char& c : w) {
      const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (c != u) all_upper = false;
      const int v = is_digit(u) ? u - '0' : u - 'A' + 10;
      has_decimal = has_decimal || is_digit(u);
      ok = ok && v < base;
      c = u;
    }
    if (!ok || (base > 10 && !has_decimal && !all_upper) || follows_base_word(text, start)) continue;
    const auto nz = w.find_first_not_of('0');
    last = nz == std::string::npos ? "0" : w.substr(nz);
  }
  return last;
}

std::vector<std::string> scan_actions(std::string_view text) {
  static const std::set<std::string> k_actions = {"I_WALK", "I_LOOK", "I_RUN", "I_JUMP", "I_TURN_LEFT", "I_TURN_RIGHT"};
  const std::string t(text);
  std::string low = t;
  for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Words of t[from, to) that are actions, in order; stops at a blank line after the first one.
  const auto collect = [&](std::size_t from, std::size_t to) {
    std::vector<std::string> out;
    std::size_t i = from;
    while (i < to) {
      if (!out.empty() && t.compare(i, 2, "\n\n") == 0) break;
      if (!(is_alnum(t[i]) || t[i] == '_')) {
        ++i;
        continue;
      }
      const std::size_t s = i;
      while (i < to && (is_alnum(t[i]) || t[i] == '_')) ++i;
      std::string w = t.substr(s, i - s);
      for (auto& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (k_actions.count(w)) out.push_back(std::move(w));
    }
    return out;
  };
  // "Actions:" starts the answer only when no action came before it (else it is the model
  // continuing the few-shot pattern with a next example).
  std::size_t from = 0;
  if (const auto a = low.find("actions:"); a != std::string::npos && collect(0, a).empty()) from = a + 8;
  const auto c = low.find("command", from);
  return collect(from, c == std::string::npos ? t.size() : c);
}

namespace {

// ---------------------------------------------------------------------------------------
// Perturbation. ref: Mirzadeh et al. 2024, "GSM-Symbolic" (templates with varied numbers and
// names, GSM-NoOp, GSM-P1; accuracy distributions over instance sets); Wu et al. 2023,
// "Reasoning or Reciting? Exploring the Capabilities and Limitations of Language Models
// Through Counterfactual Tasks" (base-b addition vs base 10).

const std::vector<std::string> k_wp_variants = {"original", "numbers", "names", "both", "noop", "steps"};
// Base 10 first: it is the "original" every other base is compared with.
const std::vector<int> k_arith_bases = {10, 9, 8, 7};

// Same digit strings, every base: the digits stay below the smallest base, and every base-b
// answer differs from the base-10 one (else the item cannot tell reasoning from recitation).
std::pair<std::string, std::string> draw_arith_problem(rng& r) {
  const int max_digit = *std::min_element(k_arith_bases.begin(), k_arith_bases.end()) - 1;
  for (;;) {
    const int len = static_cast<int>(r.range(2, 3));
    tasks::digits a(static_cast<std::size_t>(len)), b(static_cast<std::size_t>(len));
    for (int k = 0; k < len; ++k) {
      const bool lead = k == len - 1;  // little-endian: the last digit is the leading one
      a[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(lead ? r.range(1, max_digit) : r.range(0, max_digit));
      b[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(lead ? r.range(1, max_digit) : r.range(0, max_digit));
    }
    const std::string dec = tasks::digits_to_string(tasks::add_digits(a, b, 10));
    bool differs = true;
    for (int base : k_arith_bases)
      if (base != 10) differs = differs && tasks::digits_to_string(tasks::add_digits(a, b, base)) != dec;
    if (differs) return {tasks::digits_to_string(a), tasks::digits_to_string(b)};
  }
}

std::string wp_instruction(const std::string& lang) {
  return lang == "ko" ? "문제를 풀고, 마지막 줄에 \"답: N\" 형식으로 최종 답을 숫자 하나로 쓰세요."
                      : "Solve the problem. Give the final answer as a single number on the last line, as \"Answer: N\".";
}

// Mean and standard errors of x, clustered by `cluster` when there are at least two clusters.
struct clustered_stat {
  double mean = 0, se_iid = 0;
  std::optional<double> se_clustered;
  std::size_t n = 0, clusters = 0;
};
clustered_stat clustered_mean(const std::vector<double>& x, const std::vector<std::string>& cluster) {
  clustered_stat s;
  s.n = x.size();
  if (x.empty()) return s;
  std::map<std::string, std::int64_t> ids;
  std::vector<std::int64_t> c;
  for (const auto& k : cluster) c.push_back(ids.emplace(k, static_cast<std::int64_t>(ids.size())).first->second);
  s.clusters = ids.size();
  const auto sm = analysis::summarize(x);
  s.mean = sm.mean;
  s.se_iid = sm.std_error;
  if (s.clusters >= 2) s.se_clustered = analysis::cluster_robust_mean(x, c).std_error;
  return s;
}

class perturbation final : public suite {
 public:
  perturbation()
      : suite("perturbation",
              "Templated word problems with numbers, names, both, an irrelevant clause (NoOp) or an extra step changed "
              "vs the original (Mirzadeh et al. 2024, GSM-Symbolic), and the same digit strings added in base 10, 9, 8 "
              "and 7 (Wu et al. 2023); accuracy per variant, drop vs original, standard errors clustered by template.") {}

  // Per language: each template's original once, then for each other variant
  // ceil(n / templates) instances per template (so every template weighs the same); and n
  // base-arithmetic problems, each asked in every base.
  std::vector<item> build(const suite_options& opt) const override {
    std::vector<item> items;
    for (const auto& lang : opt.langs) {
      const auto templates = tasks::word_problem_templates(lang);
      if (templates.empty()) continue;
      const int per_template = std::max(1, (opt.n + static_cast<int>(templates.size()) - 1) / static_cast<int>(templates.size()));
      for (const auto& tid : templates) {
        for (const auto& variant : k_wp_variants) {
          const int count = variant == "original" ? 1 : per_template;
          for (int k = 0; k < count; ++k) {
            const std::string id = variant == "original" ? fmt::format("wp/{}/{}/original", lang, tid)
                                                         : fmt::format("wp/{}/{}/{}/{}", lang, tid, variant, k);
            rng r(opt.seed, stream_of(id));
            const auto wp = tasks::sample_word_problem(tid, variant, lang, r);
            item it;
            it.id = id;
            it.messages = {{"user", wp.text + "\n\n" + wp_instruction(lang)}};
            it.target = std::to_string(wp.answer);
            it.max_tokens = 256;
            it.seed = static_cast<std::int64_t>(opt.seed);
            it.doc = {{"family", "word_problem"}, {"lang", lang},       {"template", tid},
                      {"cluster", tid},           {"variant", variant}, {"set", variant == "original" ? -1 : k},
                      {"answer", wp.answer},      {"operations", wp.operations}, {"text", wp.text}};
            items.push_back(std::move(it));
          }
        }
      }
    }
    // Base-b addition: the tasks layer renders the prompt ("In base 7, compute 243 + 156. ...").
    tasks::arithmetic_config ac;
    ac.bases = {10};
    ac.num_train = 0;
    ac.num_test = 0;
    const auto d = tasks::build(ac, opt.seed);
    for (int k = 0; k < opt.n; ++k) {
      rng r(opt.seed, stream_of(fmt::format("arith/{}", k)));
      // Problem 0 is the notes' "In a base-7 number system, calculate 243₇ + 156₇".
      const auto [a, b] = k == 0 ? std::pair<std::string, std::string>{"243", "156"} : draw_arith_problem(r);
      const std::string decimal = tasks::arithmetic_item(d, ac, 10, a, b).answer;
      for (int base : k_arith_bases) {
        const auto ex = tasks::arithmetic_item(d, ac, base, a, b);
        item it;
        it.id = fmt::format("arith/{}/b{}", k, base);
        it.messages = {{"user", ex.prompt}};
        it.target = ex.answer;
        it.max_tokens = 64;
        it.seed = static_cast<std::int64_t>(opt.seed);
        it.doc = {{"family", "arithmetic"}, {"lang", "en"},       {"cluster", fmt::format("arith/{}", k)},
                  {"base", base},           {"variant", fmt::format("base={}", base)},
                  {"a", a},                 {"b", b},             {"answer", ex.answer},
                  {"decimal_answer", decimal}};
        items.push_back(std::move(it));
      }
    }
    return items;
  }

  void score_text(const item& it, const std::string& text, json& s) const override {
    if (it.doc.value("family", "") == "arithmetic") {
      const int base = it.doc["base"].get<int>();
      const auto pred = last_base_number(text, base);
      s["pred"] = pred ? json(*pred) : json(nullptr);
      s["parsed"] = pred.has_value();
      s["correct"] = pred && *pred == it.target;
      // Recitation: the reply's last decimal number is the base-10 sum of the same digits.
      if (base != 10) {
        const auto dec = last_base_number(text, 10);
        s["recited"] = dec && *dec == it.doc["decimal_answer"].get<std::string>();
      }
      return;
    }
    const auto pred = last_number(text);
    s["pred"] = pred ? json(*pred) : json(nullptr);
    s["parsed"] = pred.has_value();
    s["correct"] = pred && *pred == static_cast<double>(it.doc["answer"].get<std::int64_t>());
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    json variants = json::array();
    std::int64_t unparsed = 0;
    for (const auto& s : samples) unparsed += !s.value("parsed", true);
    if (!samples.empty()) r.metrics["unparsed_rate"] = static_cast<double>(unparsed) / static_cast<double>(samples.size());
    aggregate_family(samples, "word_problem", r, variants);
    aggregate_family(samples, "arithmetic", r, variants);
    r.extra["variants"] = variants;
    return r;
  }

 private:
  // Metric keys: word problems acc_<variant>, drop_<variant>; arithmetic acc_base<b>,
  // drop_base<b>, recite_rate_base<b>. Each with _stderr_clustered, _stderr_iid, _n.
  static std::string key_of(const std::string& family, const std::string& variant) {
    return family == "arithmetic" ? "base" + variant.substr(5) : variant;
  }

  // Long (~95 lines): one pass per variant computes all of its metrics (accuracy, paired drop,
  // recitation, spread over instance sets) from the same sample lists.
  static void aggregate_family(const std::vector<json>& samples, const std::string& family, suite_result& r,
                               json& variants) {
    const std::string original = family == "arithmetic" ? "base=10" : "original";
    std::vector<std::string> order;
    if (family == "arithmetic")
      for (int b : k_arith_bases) order.push_back(fmt::format("base={}", b));
    else
      order = k_wp_variants;
    std::map<std::string, std::vector<const json*>> by_variant;
    // (lang, cluster) -> correctness of the original items, for the paired drop.
    std::map<std::pair<std::string, std::string>, std::pair<double, int>> orig;
    for (const auto& s : samples) {
      if (s["doc"].value("family", "") != family) continue;
      const std::string v = s["doc"]["variant"];
      by_variant[v].push_back(&s);
      if (v == original) {
        auto& [sum, n] = orig[{s["doc"].value("lang", ""), s["doc"]["cluster"].get<std::string>()}];
        sum += s.value("correct", false) ? 1.0 : 0.0;
        ++n;
      }
    }
    if (by_variant.empty()) return;
    std::vector<double> accs;
    const std::string split = family == "arithmetic" ? "arithmetic" : "word_problems";
    for (const auto& v : order) {
      if (!by_variant.count(v)) continue;
      const auto& vs = by_variant[v];
      std::vector<double> x, d;
      std::vector<std::string> cl, dcl;
      std::int64_t recited = 0, recite_n = 0;
      std::map<std::int64_t, std::pair<double, int>> sets;  // instance set -> (correct, n)
      for (const json* s : vs) {
        const double c = s->value("correct", false) ? 1.0 : 0.0;
        const std::string cluster = (*s)["doc"]["cluster"];
        x.push_back(c);
        cl.push_back(cluster);
        if (s->contains("recited")) {
          ++recite_n;
          recited += (*s)["recited"].get<bool>();
        }
        auto& st = sets[(*s)["doc"].value("set", std::int64_t{-1})];
        st.first += c;
        ++st.second;
        // Paired with the original of the same template (word problems) or digit strings (bases).
        const auto o = orig.find({(*s)["doc"].value("lang", ""), cluster});
        if (v != original && o != orig.end()) {
          d.push_back(o->second.first / o->second.second - c);
          dcl.push_back(cluster);
        }
      }
      const auto st = clustered_mean(x, cl);
      const auto k = static_cast<std::size_t>(std::llround(st.mean * static_cast<double>(st.n)));
      const auto w = analysis::wilson_interval(k, st.n, 0.95);
      const std::string key = key_of(family, v);
      accs.push_back(st.mean);
      r.metrics["acc_" + key] = st.mean;
      r.metrics["acc_" + key + "_stderr_iid"] = st.se_iid;
      if (st.se_clustered) r.metrics["acc_" + key + "_stderr_clustered"] = *st.se_clustered;
      r.metrics["acc_" + key + "_n"] = st.n;
      r.slices.push_back({split, "variant=" + v, "acc", st.mean, static_cast<std::int64_t>(st.n)});
      json row = {{"family", family}, {"variant", v}, {"acc", st.mean}, {"n", st.n}, {"clusters", st.clusters},
                  {"se_iid", st.se_iid}, {"ci95_lo", w.lo}, {"ci95_hi", w.hi}};
      if (st.se_clustered) {
        row["se_clustered"] = *st.se_clustered;
        r.slices.push_back({split, "variant=" + v, "acc_stderr_clustered", *st.se_clustered, static_cast<std::int64_t>(st.n)});
      }
      if (!d.empty()) {
        const auto ds = clustered_mean(d, dcl);
        r.metrics["drop_" + key] = ds.mean;
        r.metrics["drop_" + key + "_stderr_iid"] = ds.se_iid;
        if (ds.se_clustered) r.metrics["drop_" + key + "_stderr_clustered"] = *ds.se_clustered;
        r.metrics["drop_" + key + "_n"] = ds.n;
        r.slices.push_back({split, "variant=" + v, "drop", ds.mean, static_cast<std::int64_t>(ds.n)});
        row["drop"] = ds.mean;
        row["drop_n"] = ds.n;
        if (ds.se_clustered) row["drop_se_clustered"] = *ds.se_clustered;
      }
      if (recite_n > 0) {
        const double rr = static_cast<double>(recited) / static_cast<double>(recite_n);
        r.metrics["recite_rate_" + key] = rr;
        r.slices.push_back({split, "variant=" + v, "recite_rate", rr, recite_n});
        row["recite_rate"] = rr;
      }
      // GSM-Symbolic's spread: accuracy over instance sets (set k = the k-th instance of every template).
      sets.erase(-1);
      if (sets.size() >= 2) {
        std::vector<double> set_acc;
        for (const auto& [sid, cn] : sets) set_acc.push_back(cn.first / cn.second);
        const double sd = analysis::summarize(set_acc).stddev;
        r.metrics["acc_sd_across_sets_" + key] = sd;
        row["sd_across_sets"] = sd;
      }
      variants.push_back(std::move(row));
    }
    // Sample variance of the per-variant accuracies (original included).
    if (accs.size() >= 2)
      r.metrics[family == "arithmetic" ? "acc_var_across_bases" : "acc_var_across_variants"] = analysis::summarize(accs).variance;
  }
};

// ---------------------------------------------------------------------------------------
// Compositional generalisation. ref: Lake & Baroni 2018, "Generalization without
// systematicity" (SCAN splits); few-shot prompting of LLMs on SCAN as in Qiu et al. 2022,
// "Evaluating the Impact of Model Scale for Compositional Generalization in Semantic Parsing".

const std::vector<std::string> k_scan_splits = {"simple", "length", "addprim_jump", "addprim_turn_left"};
constexpr int k_scan_shots = 8;

std::string scan_command_of(const tasks::example& ex) {
  const auto p = ex.prompt.find("Command: ");
  const auto e = ex.prompt.find('\n', p);
  LMLAB_ASSERT(p != std::string::npos && e != std::string::npos, "SCAN prompt lost its 'Command:' line");
  return ex.prompt.substr(p + 9, e - p - 9);
}

class compositional final : public suite {
 public:
  compositional()
      : suite("compositional",
              "SCAN few-shot prompts per split (simple, length, add-jump, add-turn-left): 8 demonstrations from the "
              "split's train set, the query from its test set; exact match of the action sequence (Lake & Baroni 2018).") {}

  // n queries per split (fewer when the test set is smaller), drawn without replacement. In
  // the add-primitive splits the primitive alone ("jump" -> I_JUMP) is always the first
  // demonstration: without it the query cannot be answered from the prompt.
  std::vector<item> build(const suite_options& opt) const override {
    std::vector<item> items;
    for (const auto& split : k_scan_splits) {
      tasks::scan_config sc;
      sc.split = split;
      const auto d = tasks::build(sc, opt.seed);
      const auto instr = d.test.front().prompt.substr(0, d.test.front().prompt.find('\n'));
      std::vector<std::size_t> order(d.test.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      rng pick(opt.seed, stream_of("scan/" + split));
      const std::size_t n = std::min(order.size(), static_cast<std::size_t>(std::max(0, opt.n)));
      for (std::size_t i = 0; i < n; ++i) std::swap(order[i], order[i + pick.below(order.size() - i)]);
      const std::string prim = split == "addprim_jump" ? "jump" : split == "addprim_turn_left" ? "turn left" : "";
      const tasks::example* prim_ex = nullptr;
      for (const auto& ex : d.train)
        if (!prim.empty() && !prim_ex && scan_command_of(ex) == prim) prim_ex = &ex;
      LMLAB_ASSERT(prim.empty() || prim_ex, "SCAN add-primitive split without its primitive in train");
      for (std::size_t j = 0; j < n; ++j) {
        const auto& q = d.test[order[j]];
        const std::string qcmd = scan_command_of(q);
        const std::string id = fmt::format("scan/{}/{}", split, j);
        rng r(opt.seed, stream_of(id));
        std::vector<const tasks::example*> demos;
        std::set<std::string> used = {qcmd};
        if (prim_ex) {
          demos.push_back(prim_ex);
          used.insert(prim);
        }
        while (static_cast<int>(demos.size()) < k_scan_shots) {
          const auto& ex = d.train[r.below(d.train.size())];
          if (used.insert(scan_command_of(ex)).second) demos.push_back(&ex);
        }
        std::string prompt = instr + "\n\n";
        for (const auto* ex : demos) prompt += "Command: " + scan_command_of(*ex) + "\nActions: " + ex->answer + "\n\n";
        prompt += "Command: " + qcmd + "\nActions:";
        item it;
        it.id = id;
        it.messages = {{"user", prompt}};
        it.target = q.answer;
        it.max_tokens = 384;
        it.seed = static_cast<std::int64_t>(opt.seed);
        it.doc = {{"split", split},        {"command", qcmd},       {"slice", q.slice},
                  {"actions", static_cast<std::int64_t>(q.difficulty)}, {"shots", demos.size()},
                  {"lang", "en"}};
        items.push_back(std::move(it));
      }
    }
    return items;
  }

  void score_text(const item& it, const std::string& text, json& s) const override {
    const auto acts = scan_actions(text);
    std::string pred;
    for (const auto& a : acts) pred += (pred.empty() ? "" : " ") + a;
    s["pred"] = pred;
    s["parsed"] = !acts.empty();
    s["correct"] = !acts.empty() && pred == it.target;
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    std::map<std::string, std::vector<json>> by_split;
    std::int64_t unparsed = 0;
    for (const auto& s : samples) {
      by_split[s["doc"]["split"].get<std::string>()].push_back(s);
      unparsed += !s.value("parsed", true);
    }
    if (!samples.empty()) r.metrics["unparsed_rate"] = static_cast<double>(unparsed) / static_cast<double>(samples.size());
    for (const auto& split : k_scan_splits) {
      if (!by_split.count(split)) continue;
      const auto& v = by_split[split];
      const auto m = accuracy_metrics(v, "acc_" + split);
      for (auto it = m.begin(); it != m.end(); ++it) r.metrics[it.key()] = it.value();
      r.slices.push_back({"splits", "split=" + split, "acc", m["acc_" + split].get<double>(), static_cast<std::int64_t>(v.size())});
      for (auto& row : accuracy_by(v, "slice", split)) r.slices.push_back(row);
    }
    return r;
  }
};

}  // namespace

const suite& perturbation_suite() { return single<perturbation>(); }
const suite& compositional_suite() { return single<compositional>(); }

}  // namespace lmlab::probe

#endif  // LMLAB_PROBE_HAS_TASKS

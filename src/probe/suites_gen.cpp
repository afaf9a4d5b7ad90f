// Free-form suites: lost in the middle (key-value retrieval by position), nondeterminism
// (the same prompt asked repeatedly across temperatures and concurrency levels) and
// hallucination (answerable / contradicted / unanswerable from a given context). Research
// notes sections 5 and 7.
// Not for: multiple-choice suites (suites_mc.cpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "analysis/hallucination.hpp"
#include "core/error.hpp"
#include "probe/scoring.hpp"
#include "probe/suites.hpp"

namespace lmlab::probe {
namespace {
using json = nlohmann::json;

std::string uuid(rng& r) {
  std::string h;
  for (int i = 0; i < 4; ++i) h += fmt::format("{:08x}", r.next_u32());
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
}

// ---------------------------------------------------------------------------------------
// ref: Liu et al. 2023, "Lost in the Middle: How Language Models Use Long Contexts", section 3
// (synthetic key-value retrieval: a JSON object of UUID pairs, the queried key at each position).

class lost_in_middle final : public suite {
 public:
  lost_in_middle()
      : suite("lost_in_middle",
              "Key-value retrieval from a JSON object of N UUID pairs with the queried key at evenly spread positions; "
              "accuracy by position (Liu et al. 2023, section 3).") {}

  static std::vector<int> positions(int n_items, int k) {
    std::set<int> s;
    for (int i = 0; i < k; ++i) s.insert(k == 1 ? 0 : static_cast<int>(std::lround(static_cast<double>(i) * (n_items - 1) / (k - 1))));
    return {s.begin(), s.end()};
  }

  std::vector<item> build(const suite_options& opt) const override {
    std::vector<item> items;
    for (int n_items : opt.context_items) {
      LMLAB_CHECK(n_items >= 2, "lost_in_middle: context_items must be >= 2, got {}", n_items);
      const auto pos = positions(n_items, opt.positions);
      for (int t = 0; t < opt.n; ++t) {
        rng r(opt.seed, 1000000 + static_cast<std::uint64_t>(n_items) * 1000 + static_cast<std::uint64_t>(t));
        std::vector<std::pair<std::string, std::string>> kv;
        for (int i = 0; i < n_items; ++i) kv.emplace_back(uuid(r), uuid(r));
        // The same context for every position: only the queried key moves, as in the paper.
        for (int p : pos) {
          std::string obj = "{";
          for (int i = 0; i < n_items; ++i)
            obj += fmt::format("{}\"{}\": \"{}\"", i ? ", " : "", kv[static_cast<std::size_t>(i)].first, kv[static_cast<std::size_t>(i)].second);
          obj += "}";
          const auto& key = kv[static_cast<std::size_t>(p)].first;
          item it;
          it.id = fmt::format("n{}/t{}/p{}", n_items, t, p);
          it.messages = {{"user", "Extract the value corresponding to the specified key in the JSON object below.\n\n"
                                  "JSON data:\n" + obj + "\n\nKey: \"" + key + "\"\nCorresponding value:"}};
          it.target = kv[static_cast<std::size_t>(p)].second;
          it.max_tokens = 32;
          it.seed = static_cast<std::int64_t>(opt.seed);
          it.doc = {{"n_items", n_items}, {"position", p}, {"trial", t}, {"key", key},
                    {"relative_position", static_cast<double>(p) / (n_items - 1)}};
          items.push_back(std::move(it));
        }
      }
    }
    return items;
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    std::map<int, std::vector<json>> by_n;
    for (const auto& s : samples) by_n[s["doc"]["n_items"].get<int>()].push_back(s);
    for (const auto& [n, v] : by_n) {
      auto rows = accuracy_by(v, "position", fmt::format("n_items={}", n));
      // The U-shape in one number: mean accuracy at the two ends minus the worst interior one.
      if (rows.size() >= 3) {
        std::map<int, double> acc;
        for (const auto& row : rows) acc[std::stoi(row.slice.substr(9))] = row.value;
        const double ends = (acc.begin()->second + acc.rbegin()->second) / 2;
        double worst = 1;
        for (auto it = std::next(acc.begin()); it != std::prev(acc.end()); ++it) worst = std::min(worst, it->second);
        r.metrics[fmt::format("middle_drop_n{}", n)] = ends - worst;
      }
      r.slices.insert(r.slices.end(), rows.begin(), rows.end());
    }
    return r;
  }
};

// ---------------------------------------------------------------------------------------
// Nondeterminism: identical requests repeated; agreement measured, not assumed. ref: the
// notes' section 7; Atil et al. 2024, "LLM Stability: A detailed analysis with some surprises".

class nondeterminism final : public suite {
 public:
  nondeterminism()
      : suite("nondeterminism",
              "The same prompts asked repeatedly at each temperature and concurrency level: exact-match agreement, "
              "distinct outputs per prompt, and the flip rate of the scored answer (Atil et al. 2024).") {}

  std::vector<item> build(const suite_options& opt) const override {
    rng r(opt.seed, 13);
    std::vector<mc_question> qs = facts_and_arithmetic(opt.langs, r, std::max(1, opt.n / 4), {3});
    if (static_cast<int>(qs.size()) > opt.n) qs.resize(static_cast<std::size_t>(opt.n));
    std::vector<item> items;
    int level_index = 0;
    for (int level : opt.concurrency_levels) {
      for (double T : opt.temperatures) {
        for (const auto& q : qs) {
          for (int k = 0; k < opt.repeats; ++k) {
            item it;
            it.id = fmt::format("{}/T{}/c{}/r{}", q.id, T, level, k);
            it.messages = {{"user", format_mc(q.question, q.choices, q.lang) +
                                        (q.lang == "ko" ? " 한 문장으로 이유도 적으세요." : " Then give a one-sentence reason.")}};
            it.max_tokens = 48;
            it.temperature = T;
            it.concurrency = level;
            // Distinct repeat indices per level: each level asks afresh instead of hitting the cache.
            it.repeat = level_index * opt.repeats + k;
            it.target = choice_label(q.answer);
            it.doc = {{"prompt_id", q.id}, {"temperature", T}, {"concurrency", level}, {"repeat_index", k},
                      {"n_choices", q.choices.size()}, {"lang", q.lang}};
            items.push_back(std::move(it));
          }
        }
      }
      ++level_index;
    }
    return items;
  }

  void score_text(const item& it, const std::string& text, json& s) const override {
    const int pred = extract_letter(text, it.doc.value("n_choices", 4));
    s["pred"] = pred;
    s["correct"] = pred >= 0 && choice_label(pred) == it.target;
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    // (T, concurrency) -> prompt -> outputs
    std::map<std::pair<double, int>, std::map<std::string, std::vector<const json*>>> groups;
    for (const auto& s : samples)
      groups[{s["doc"]["temperature"].get<double>(), s["doc"]["concurrency"].get<int>()}][s["doc"]["prompt_id"].get<std::string>()]
          .push_back(&s);
    for (const auto& [cond, prompts] : groups) {
      std::int64_t n = 0, identical = 0, flips = 0;
      double distinct = 0;
      for (const auto& [pid, v] : prompts) {
        if (v.size() < 2) continue;
        ++n;
        std::set<std::string> texts;
        std::set<int> preds;
        for (const auto* s : v) {
          texts.insert((*s)["resps"][0][0].get<std::string>());
          preds.insert((*s)["pred"].get<int>());
        }
        identical += texts.size() == 1;
        flips += preds.size() > 1;
        distinct += static_cast<double>(texts.size());
      }
      if (n == 0) continue;
      const std::string split = fmt::format("T={},c={}", cond.first, cond.second);
      r.slices.push_back({split, "all", "exact_match_agreement", static_cast<double>(identical) / n, n});
      r.slices.push_back({split, "all", "distinct_outputs", distinct / n, n});
      r.slices.push_back({split, "all", "answer_flip_rate", static_cast<double>(flips) / n, n});
      const std::string key = fmt::format("T{}_c{}", cond.first, cond.second);
      r.metrics["exact_match_agreement_" + key] = static_cast<double>(identical) / n;
      r.metrics["answer_flip_rate_" + key] = static_cast<double>(flips) / n;
      r.metrics["distinct_outputs_" + key] = distinct / n;
    }
    return r;
  }
};

// ---------------------------------------------------------------------------------------
// Hallucination: the notes' taxonomy (section 5): intrinsic = contradicts the given input,
// extrinsic = adds what the input cannot verify. ref: Maynez et al. 2020, "On Faithfulness
// and Factuality in Abstractive Summarization" (intrinsic/extrinsic); Rajpurkar et al. 2018
// (SQuAD 2.0) for unanswerable questions. The contexts are fictional so that parametric
// knowledge cannot answer them.

struct hall_template {
  const char* ctx_en;  // {name} {year} {place} {person}
  const char* ctx_ko;
  const char* q_year_en;
  const char* q_year_ko;
  const char* q_false_en;  // presupposes {false_person}
  const char* q_false_ko;
  const char* q_unans_en;
  const char* q_unans_ko;
};

const hall_template k_hall[] = {
    {"The {name} Bridge in {place} was completed in {year}. Its chief engineer was {person}.",
     "{place}에 있는 {name} 다리는 {year}년에 완공되었다. 수석 엔지니어는 {person}였다.",
     "In which year was the {name} Bridge completed?", "{name} 다리는 몇 년에 완공되었나요?",
     "Why did {false_person} decide to become the chief engineer of the {name} Bridge?",
     "{false_person}는 왜 {name} 다리의 수석 엔지니어가 되기로 했나요?",
     "How much did the {name} Bridge cost to build?", "{name} 다리를 짓는 데 비용이 얼마나 들었나요?"},
    {"The {name} Company was founded in {place} in {year} by {person}.",
     "{name} 회사는 {year}년 {place}에서 {person}가 설립했다.",
     "In which year was the {name} Company founded?", "{name} 회사는 몇 년에 설립되었나요?",
     "What did {false_person} sell when founding the {name} Company?", "{false_person}는 {name} 회사를 설립할 때 무엇을 팔았나요?",
     "How many employees does the {name} Company have?", "{name} 회사의 직원은 몇 명인가요?"},
    {"The research ship {name} was launched from {place} in {year}; its first captain was {person}.",
     "연구선 {name}호는 {year}년 {place}에서 진수되었다. 첫 선장은 {person}였다.",
     "In which year was the ship {name} launched?", "{name}호는 몇 년에 진수되었나요?",
     "How long did {false_person} serve as the first captain of the {name}?", "{false_person}는 {name}호의 첫 선장으로 얼마나 일했나요?",
     "What was the top speed of the ship {name}?", "{name}호의 최고 속도는 얼마였나요?"},
};

const char* k_names[] = {"Varnholt", "Quellin", "Ostrava", "Maribel", "Tenwick", "Lorcan", "Zephyra", "Halvard"};
const char* k_places_en[] = {"Northport", "Elmsford", "Carrow Bay", "Dunmere"};
const char* k_places_ko[] = {"북항시", "엘름포드", "캐로우만", "던미어"};
const char* k_people_en[] = {"Mara Olsen", "Ivo Tanaka", "Lena Brandt", "Tomas Reyes", "Ada Novak", "Kemal Arslan"};
const char* k_people_ko[] = {"김서연", "박지훈", "이하늘", "최민준", "정유나", "한도윤"};

// A four-digit year in text other than `year`.
bool mentions_other_year(const std::string& text, const std::string& year) {
  for (std::size_t i = 0; i + 4 <= text.size(); ++i) {
    const bool starts = i == 0 || !std::isdigit(static_cast<unsigned char>(text[i - 1]));
    bool four = starts && (i + 4 == text.size() || !std::isdigit(static_cast<unsigned char>(text[i + 4])));
    for (std::size_t k = 0; four && k < 4; ++k) four = std::isdigit(static_cast<unsigned char>(text[i + k])) != 0;
    if (four && text.compare(i, 4, year) != 0 && (text[i] == '1' || text[i] == '2')) return true;
  }
  return false;
}

std::string fill(std::string s, const std::map<std::string, std::string>& v) {
  for (const auto& [k, val] : v)
    for (auto p = s.find("{" + k + "}"); p != std::string::npos; p = s.find("{" + k + "}", p)) s.replace(p, k.size() + 2, val);
  return s;
}

class hallucination final : public suite {
 public:
  hallucination()
      : suite("hallucination",
              "Questions about a fictional context that it answers, contradicts (false premise) or leaves open; each "
              "answer labelled correct, intrinsic hallucination, extrinsic hallucination or abstention (Maynez et al. 2020).") {}

  std::vector<item> build(const suite_options& opt) const override {
    std::vector<item> items;
    for (int t = 0; t < opt.n; ++t) {
      rng r(opt.seed, 2000000 + static_cast<std::uint64_t>(t));
      const auto& tp = k_hall[static_cast<std::size_t>(t) % std::size(k_hall)];
      const std::string name = k_names[r.below(std::size(k_names))];
      const std::size_t place = r.below(std::size(k_places_en));
      const std::size_t person = r.below(std::size(k_people_en));
      const std::size_t false_person = (person + 1 + r.below(std::size(k_people_en) - 1)) % std::size(k_people_en);
      const std::string year = std::to_string(1850 + r.below(170));
      for (const auto& lang : opt.langs) {
        const bool ko = lang == "ko";
        const std::map<std::string, std::string> v = {
            {"name", name}, {"year", year}, {"place", ko ? k_places_ko[place] : k_places_en[place]},
            {"person", ko ? k_people_ko[person] : k_people_en[person]},
            {"false_person", ko ? k_people_ko[false_person] : k_people_en[false_person]}};
        const std::string ctx = fill(ko ? tp.ctx_ko : tp.ctx_en, v);
        const std::string instr = ko ? "다음 글만을 근거로 질문에 짧게 답하세요. 글에 없는 내용이면 그렇다고 말하세요.\n\n글: "
                                     : "Answer the question briefly using only the passage. If the passage does not say, say so.\n\nPassage: ";
        const auto add = [&](const std::string& kind, const std::string& q, const std::string& gold) {
          item it;
          it.id = fmt::format("t{}/{}/{}", t, kind, lang);
          it.messages = {{"user", instr + ctx + (ko ? "\n\n질문: " : "\n\nQuestion: ") + q}};
          it.target = gold;
          it.max_tokens = 64;
          it.seed = static_cast<std::int64_t>(opt.seed);
          it.doc = {{"kind", kind}, {"lang", lang}, {"context", ctx}, {"question", q}, {"gold", gold},
                    {"year", year}, {"person", v.at("person")}, {"false_person", v.at("false_person")}};
          items.push_back(std::move(it));
        };
        add("answerable", fill(ko ? tp.q_year_ko : tp.q_year_en, v), year);
        add("contradicted", fill(ko ? tp.q_false_ko : tp.q_false_en, v), v.at("person"));
        add("unanswerable", fill(ko ? tp.q_unans_ko : tp.q_unans_en, v), "");
      }
    }
    return items;
  }

  // The label rules, per kind of question:
  //   answerable:   gold year -> correct; abstains -> abstention; another year -> intrinsic
  //                 (contradicts the passage); anything else -> extrinsic.
  //   contradicted: names the passage's person or rejects the premise -> correct; abstains ->
  //                 abstention; goes along with the false person -> intrinsic; else extrinsic.
  //   unanswerable: abstains -> correct; any other answer adds unverifiable facts -> extrinsic.
  void score_text(const item& it, const std::string& text, json& s) const override {
    const std::string kind = it.doc["kind"];
    const bool abstain = is_abstention(text);
    const auto has = [&](const std::string& needle) { return !needle.empty() && text.find(needle) != std::string::npos; };
    // The evidence is decided here; the label comes from the classifier the knowledge lab
    // shares (analysis/hallucination.hpp), so both harnesses rank evidence the same way.
    analysis::answer_evidence ev;
    ev.abstained = abstain;
    if (kind == "answerable") {
      ev.matches_gold = has(it.doc["year"]);
      ev.contradicts_context = mentions_other_year(text, it.doc["year"].get<std::string>());
    } else if (kind == "contradicted") {
      const bool corrects = has(it.doc["person"]) || normalize_answer(text).find("not ") != std::string::npos ||
                            text.find("아니") != std::string::npos || text.find("않") != std::string::npos;
      ev.matches_gold = corrects && !abstain;
      ev.contradicts_context = has(it.doc["false_person"]);
    } else {
      ev.matches_gold = abstain;
    }
    const std::string label(analysis::to_string(analysis::classify_answer(ev)));
    s["label"] = label;
    s["correct"] = label == "correct";
  }

  suite_result aggregate(const std::vector<json>& samples) const override {
    suite_result r;
    r.metrics = accuracy_metrics(samples);
    std::map<std::string, std::map<std::string, std::int64_t>> counts;
    std::map<std::string, std::int64_t> totals;
    for (const auto& s : samples) {
      const std::string kind = s["doc"]["kind"];
      ++counts[kind][s.value("label", "")];
      ++totals[kind];
      ++counts["all"][s.value("label", "")];
      ++totals["all"];
    }
    for (const auto& [kind, c] : counts) {
      for (const char* label : {"correct", "intrinsic", "extrinsic", "abstention"}) {
        const double rate = static_cast<double>(c.count(label) ? c.at(label) : 0) / static_cast<double>(totals[kind]);
        r.slices.push_back({kind, label, "rate", rate, totals[kind]});
        r.metrics[fmt::format("{}_rate_{}", label, kind)] = rate;
      }
    }
    return r;
  }
};

}  // namespace

const suite& lost_in_middle_suite() { return single<lost_in_middle>(); }
const suite& nondeterminism_suite() { return single<nondeterminism>(); }
const suite& hallucination_suite() { return single<hallucination>(); }

}  // namespace lmlab::probe

// Templated word problems: see word_problems.hpp. The templates are data (kTemplates below);
// each answer function returns nullopt when an instance is invalid (a negative count, an
// inexact division), and the sampler draws again.
#include "tasks/word_problems.hpp"

#include <cmath>

#include <algorithm>
#include <optional>
#include <set>

namespace lmlab::tasks {

namespace {

using vals = std::map<std::string, std::int64_t>;
using answer_fn = std::optional<std::int64_t> (*)(const vals&);

struct var_def {
  const char* name;
  std::int64_t lo, hi, original;
};
struct slot_def {
  const char* name;
  const char* kind;  // person | fruit | obj | item | flower
  const char* original_en;
  const char* original_ko;
};
struct text_def {
  const char* body = nullptr;  // nullptr: no rendering in this language
  const char* question = nullptr;
  const char* noop = nullptr;
  const char* step = nullptr;
  const char* step_question = nullptr;  // nullptr: same question
};
struct tmpl {
  const char* id;
  int ops;
  int step_ops;
  std::vector<var_def> vars;
  std::vector<slot_def> slots;
  text_def en, ko;
  answer_fn answer, step_answer;
};

std::optional<std::int64_t> nonneg(std::int64_t x) { return x >= 0 ? std::optional<std::int64_t>(x) : std::nullopt; }
std::optional<std::int64_t> exact_div(std::int64_t a, std::int64_t b) {
  return b > 0 && a >= 0 && a % b == 0 ? std::optional<std::int64_t>(a / b) : std::nullopt;
}

// The templates: data, one entry per template (its variables, slots, English and Korean texts
// and the answer functions); the order is part of the task (items pick templates by index).
// clang-format off
const std::vector<tmpl> template_table = {
  {"fruit_buy", 1, 1, {{"a", 2, 60, 5}, {"b", 2, 60, 3}, {"c", 1, 9, 2}, {"d", 1, 40, 2}},
   {{"p", "person", "Sophie", "민준"}, {"q", "person", "John", "서연"}, {"f", "fruit", "apples", "사과"}},
   {"{p} has {a} {f}. {p} buys {b} more {f} at the market.", "How many {f} does {p} have now?",
    "{c} of the {f} are a bit smaller than usual.", "Then {p} gives {d} {f} to {q}.", nullptr},
   {"{p|은} {f|을} {a}개 가지고 있습니다. {p|은} 시장에서 {f|을} {b}개 더 삽니다.", "{p|은} 지금 {f|을} 몇 개 가지고 있습니까?",
    "그중 {c}개는 평소보다 조금 작습니다.", "그다음 {p|은} {q}에게 {f|을} {d}개 줍니다.", nullptr},
   [](const vals& v) { return nonneg(v.at("a") + v.at("b")); },
   [](const vals& v) { return nonneg(v.at("a") + v.at("b") - v.at("d")); }},
  {"share_equally", 1, 1, {{"a", 4, 120, 24}, {"n", 2, 12, 4}, {"c", 1, 9, 3}, {"d", 1, 20, 2}},
   {{"p", "person", "Maria", "지훈"}, {"q", "person", "Liam", "하은"}, {"o", "obj", "stickers", "스티커"}},
   {"{p} has {a} {o} and shares them equally among {n} friends.", "How many {o} does each friend get?",
    "{c} of the {o} are older than the others.", "Then {q} gives each friend {d} more {o}.", nullptr},
   {"{p|은} {o} {a}개를 친구 {n}명에게 똑같이 나누어 줍니다.", "친구 한 명은 {o|을} 몇 개 받습니까?",
    "그중 {c}개는 다른 것보다 오래되었습니다.", "그 후 {q|이} 친구들에게 {o|을} {d}개씩 더 줍니다.", nullptr},
   [](const vals& v) { return exact_div(v.at("a"), v.at("n")); },
   [](const vals& v) -> std::optional<std::int64_t> {
     auto e = exact_div(v.at("a"), v.at("n"));
     return e ? nonneg(*e + v.at("d")) : std::nullopt;
   }},
  {"reading_pages", 2, 1, {{"a", 50, 600, 240}, {"b", 5, 60, 20}, {"n", 2, 14, 7}, {"c", 2, 90, 12}, {"d", 1, 60, 15}},
   {{"p", "person", "Noah", "도윤"}},
   {"{p} is reading a book with {a} pages. {p} reads {b} pages every day for {n} days.",
    "How many pages are left to read?", "The book was printed {c} years ago.",
    "The next day {p} reads {d} more pages.", nullptr},
   {"{p|은} {a}쪽짜리 책을 읽고 있습니다. {p|은} {n}일 동안 매일 {b}쪽씩 읽습니다.", "남은 쪽수는 몇 쪽입니까?",
    "이 책은 {c}년 전에 출판되었습니다.", "다음 날 {p|은} {d}쪽을 더 읽습니다.", nullptr},
   [](const vals& v) { return nonneg(v.at("a") - v.at("b") * v.at("n")); },
   [](const vals& v) { return nonneg(v.at("a") - v.at("b") * v.at("n") - v.at("d")); }},
  {"hourly_wage", 2, 1, {{"a", 8, 40, 15}, {"h", 1, 10, 6}, {"k", 1, 10, 4}, {"c", 8, 60, 22}, {"d", 1, 60, 12}},
   {{"p", "person", "Aisha", ""}, {"q", "person", "Ravi", ""}},
   {"{p} earns ${a} per hour and works {h} hours on Monday and {k} hours on Tuesday.",
    "How many dollars does {p} earn in total?", "{q} earns ${c} per hour at a different job.",
    "{p} then spends ${d} on lunch.", "How many dollars does {p} have left from these earnings?"},
   {},
   [](const vals& v) { return nonneg(v.at("a") * (v.at("h") + v.at("k"))); },
   [](const vals& v) { return nonneg(v.at("a") * (v.at("h") + v.at("k")) - v.at("d")); }},
  {"store_boxes", 2, 2, {{"n", 2, 20, 6}, {"a", 2, 24, 12}, {"b", 1, 200, 30}, {"c", 1, 9, 2}, {"d", 1, 10, 3}},
   {{"o", "obj", "pencils", "연필"}},
   {"A store has {n} boxes of {o} with {a} {o} in each box. The store sells {b} {o}.",
    "How many {o} are left in the store?", "{c} of the boxes are red.",
    "Then the store receives {d} more boxes with {a} {o} in each box.", nullptr},
   {},
   [](const vals& v) { return nonneg(v.at("n") * v.at("a") - v.at("b")); },
   [](const vals& v) { return nonneg(v.at("n") * v.at("a") - v.at("b") + v.at("d") * v.at("a")); }},
  {"ages", 2, 1, {{"a", 3, 60, 12}, {"b", 1, 30, 4}, {"n", 1, 20, 5}, {"c", 1, 15, 3}, {"d", 1, 30, 2}},
   {{"p", "person", "Emma", ""}, {"q", "person", "Mateo", ""}, {"r", "person", "Chloe", ""}},
   {"{p} is {a} years old. {q} is {b} years older than {p}.", "How old will {q} be in {n} years?",
    "{p}'s dog is {c} years old.", "{r} is {d} years younger than {q}.", "How old will {r} be in {n} years?"},
   {},
   [](const vals& v) { return nonneg(v.at("a") + v.at("b") + v.at("n")); },
   [](const vals& v) -> std::optional<std::int64_t> {
     const std::int64_t r_now = v.at("a") + v.at("b") - v.at("d");
     return r_now >= 1 ? nonneg(r_now + v.at("n")) : std::nullopt;
   }},
  {"train_distance", 1, 1, {{"s", 20, 300, 80}, {"h", 1, 12, 3}, {"c", 2, 20, 8}, {"d", 1, 200, 40}},
   {},
   {"A train travels at {s} kilometres per hour for {h} hours.", "How many kilometres does the train travel?",
    "The train has {c} carriages.", "It then travels another {d} kilometres.", nullptr},
   {"기차가 시속 {s}킬로미터로 {h}시간 동안 달립니다.", "기차는 모두 몇 킬로미터를 달립니까?",
    "기차에는 객차가 {c}칸 있습니다.", "그 후 기차는 {d}킬로미터를 더 달립니다.", nullptr},
   [](const vals& v) { return nonneg(v.at("s") * v.at("h")); },
   [](const vals& v) { return nonneg(v.at("s") * v.at("h") + v.at("d")); }},
  {"cookie_trays", 2, 1, {{"n", 2, 8, 3}, {"a", 4, 24, 12}, {"b", 1, 20, 6}, {"c", 1, 9, 5}, {"k", 2, 12, 5}},
   {{"p", "person", "Kenji", ""}},
   {"{p} bakes {n} trays of cookies with {a} cookies on each tray. {p} eats {b} cookies.",
    "How many cookies are left?", "{c} of the cookies have chocolate chips.",
    "{p} then packs the rest into bags of {k} cookies.", "How many bags does {p} fill?"},
   {},
   [](const vals& v) { return nonneg(v.at("n") * v.at("a") - v.at("b")); },
   [](const vals& v) { return exact_div(v.at("n") * v.at("a") - v.at("b"), v.at("k")); }},
  {"weekly_savings", 2, 1, {{"a", 5, 50, 12}, {"w", 2, 20, 10}, {"c", 10, 400, 85}, {"e", 2, 60, 15}, {"d", 1, 50, 20}},
   {{"p", "person", "Fatima", ""}, {"q", "person", "Lucas", ""}, {"i", "item", "bicycle", ""}},
   {"{p} saves ${a} each week for {w} weeks and then buys a {i} that costs ${c}.",
    "How many dollars does {p} have left?", "The {i} was ${e} more expensive last year.",
    "{q} then gives {p} ${d}.", nullptr},
   {},
   [](const vals& v) { return nonneg(v.at("a") * v.at("w") - v.at("c")); },
   [](const vals& v) -> std::optional<std::int64_t> {
     const auto left = nonneg(v.at("a") * v.at("w") - v.at("c"));
     return left ? nonneg(*left + v.at("d")) : std::nullopt;
   }},
  {"classroom", 1, 1, {{"a", 10, 45, 28}, {"b", 1, 40, 13}, {"c", 1, 20, 7}, {"k", 2, 6, 3}},
   {{"o", "obj", "crayons", ""}},
   {"There are {a} students in a class, and {b} of them are girls.", "How many boys are in the class?",
    "{c} of the students wear glasses.", "Each boy brings {k} {o} to class.", "How many {o} do the boys bring?"},
   {},
   [](const vals& v) { return v.at("b") < v.at("a") ? nonneg(v.at("a") - v.at("b")) : std::nullopt; },
   [](const vals& v) {
     return v.at("b") < v.at("a") ? nonneg((v.at("a") - v.at("b")) * v.at("k")) : std::nullopt;
   }},
  {"garden_rows", 2, 1, {{"r", 2, 12, 4}, {"a", 3, 20, 9}, {"b", 0, 30, 5}, {"c", 2, 50, 15}, {"d", 1, 40, 6}},
   {{"p", "person", "Grace", ""}, {"f", "flower", "tulips", ""}},
   {"{p} plants {r} rows of {f} with {a} {f} in each row. {b} of the {f} do not grow.",
    "How many {f} grow?", "The garden is {c} metres from the house.",
    "{p} picks {d} of the {f} that grow.", "How many {f} are left in the garden?"},
   {},
   [](const vals& v) { return nonneg(v.at("r") * v.at("a") - v.at("b")); },
   [](const vals& v) {
     return v.at("r") * v.at("a") >= v.at("b") ? nonneg(v.at("r") * v.at("a") - v.at("b") - v.at("d")) : std::nullopt;
   }},
  {"movie_tickets", 3, 2, {{"a", 6, 20, 12}, {"c", 3, 12, 7}, {"n", 1, 6, 2}, {"k", 1, 6, 3}, {"e", 50, 400, 120}, {"m", 1, 20, 5}},
   {{"p", "person", "Omar", ""}},
   {"Adult tickets cost ${a} and child tickets cost ${c}. {p} buys {n} adult tickets and {k} child tickets.",
    "How many dollars does {p} spend?", "The cinema has {e} seats.",
    "{p} pays with {m} ten-dollar bills.", "How many dollars of change does {p} get?"},
   {},
   [](const vals& v) { return nonneg(v.at("a") * v.at("n") + v.at("c") * v.at("k")); },
   [](const vals& v) { return nonneg(10 * v.at("m") - (v.at("a") * v.at("n") + v.at("c") * v.at("k"))); }},
  {"half_marbles", 2, 1, {{"a", 2, 100, 18}, {"b", 1, 30, 4}, {"c", 1, 30, 6}, {"d", 1, 30, 3}},
   {{"p", "person", "Hannah", ""}, {"q", "person", "Diego", ""}},
   {"{p} has {a} marbles. {p} gives half of them to {q} and then finds {b} more.",
    "How many marbles does {p} have now?", "{q} already has {c} stickers.",
    "{p} then loses {d} marbles.", nullptr},
   {},
   [](const vals& v) -> std::optional<std::int64_t> {
     auto h = exact_div(v.at("a"), 2);
     return h ? nonneg(*h + v.at("b")) : std::nullopt;
   },
   [](const vals& v) -> std::optional<std::int64_t> {
     auto h = exact_div(v.at("a"), 2);
     return h ? nonneg(*h + v.at("b") - v.at("d")) : std::nullopt;
   }},
};
// clang-format on

const std::vector<tmpl>& templates() { return template_table; }

const std::vector<std::string>& name_list(const std::string& kind, const std::string& lang) {
  static const std::map<std::string, std::vector<std::string>> en = {
      {"person", {"Sophie", "John", "Maria", "Liam", "Aisha", "Noah", "Emma", "Ravi", "Olivia", "Mateo", "Chloe",
                  "Kenji", "Fatima", "Lucas", "Grace", "Omar", "Hannah", "Diego", "Mei", "Samuel", "Zoe", "Ivan",
                  "Priya", "Daniel"}},
      {"fruit", {"apples", "pears", "oranges", "plums", "peaches", "lemons", "apricots", "kiwis"}},
      {"obj", {"stickers", "pencils", "crayons", "marbles", "cards", "stamps", "erasers", "buttons"}},
      {"item", {"bicycle", "game", "jacket", "backpack", "helmet", "telescope"}},
      {"flower", {"tulips", "roses", "daisies", "sunflowers", "lilies", "poppies"}}};
  static const std::map<std::string, std::vector<std::string>> ko = {
      {"person", {"민준", "서연", "지훈", "하은", "도윤", "수아", "예준", "지우", "시우", "하린", "주원", "유나"}},
      {"fruit", {"사과", "배", "귤", "자두", "복숭아", "레몬"}},
      {"obj", {"스티커", "연필", "구슬", "카드", "우표", "지우개"}}};
  const auto& m = lang == "ko" ? ko : en;
  auto it = m.find(kind);
  LMLAB_ASSERT(it != m.end(), "no name list for kind");
  return it->second;
}

const tmpl& find_template(const std::string& id) {
  for (const auto& t : templates())
    if (id == t.id) return t;
  std::vector<std::string> ids;
  for (const auto& t : templates()) ids.push_back(t.id);
  const std::string near = closest_name(id, ids);
  throw param_error("templates", fmt::format("word_problems: templates: unknown template '{}'", id),
                    near.empty() ? "" : "did you mean '" + near + "'?");
}

const text_def& text_for(const tmpl& t, const std::string& lang) { return lang == "ko" ? t.ko : t.en; }

// Korean particle after a name: 은/는, 이/가, 을/를, 과/와 by whether the last syllable has a
// final consonant (batchim).
std::string josa(const std::string& word, const std::string& form) {
  bool batchim = false;
  if (word.size() >= 3) {
    const auto* p = reinterpret_cast<const unsigned char*>(word.data() + word.size() - 3);
    if ((p[0] & 0xF0) == 0xE0) {
      const unsigned cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
      if (cp >= 0xAC00 && cp <= 0xD7A3) batchim = (cp - 0xAC00) % 28 != 0;
    }
  }
  if (form == "은") return batchim ? "은" : "는";
  if (form == "이") return batchim ? "이" : "가";
  if (form == "을") return batchim ? "을" : "를";
  if (form == "과") return batchim ? "과" : "와";
  LMLAB_ASSERT(false, "unknown particle form");
  return {};
}

std::string render(const char* text, const vals& v, const std::map<std::string, std::string>& names) {
  std::string out;
  for (const char* c = text; *c; ++c) {
    if (*c != '{') {
      out.push_back(*c);
      continue;
    }
    const char* end = c;
    while (*end && *end != '}') ++end;
    LMLAB_ASSERT(*end == '}', "unclosed placeholder in a word-problem template");
    const std::string ph(c + 1, end);
    const std::size_t bar = ph.find('|');
    const std::string key = ph.substr(0, bar);
    if (auto it = v.find(key); it != v.end()) {
      out += std::to_string(it->second);
    } else {
      auto nt = names.find(key);
      LMLAB_ASSERT(nt != names.end(), "placeholder without a value");
      out += nt->second;
      if (bar != std::string::npos) out += josa(nt->second, ph.substr(bar + 1));
    }
    c = end;
  }
  return out;
}

std::string problem_text(const tmpl& t, const std::string& lang, const std::string& variant, const vals& v,
                         const std::map<std::string, std::string>& names) {
  const text_def& td = text_for(t, lang);
  std::string s = render(td.body, v, names);
  if (variant == "noop") s += " " + render(td.noop, v, names);
  if (variant == "steps") s += " " + render(td.step, v, names);
  s += " " + render(variant == "steps" && td.step_question ? td.step_question : td.question, v, names);
  return s;
}

const std::vector<std::string> kVariants = {"original", "numbers", "names", "both", "noop", "steps"};

}  // namespace

std::vector<std::string> word_tokens(const std::string& text) {
  auto is_punct = [](unsigned char ch) {
    return ch < 0x80 && (std::ispunct(ch) != 0);
  };
  std::vector<std::string> out;
  std::string run;
  auto flush = [&] {
    if (!run.empty()) out.push_back(run), run.clear();
  };
  for (unsigned char ch : text) {
    if (ch == ' ' || ch == '\n' || ch == '\t') {
      flush();
    } else if ((ch >= '0' && ch <= '9') || is_punct(ch)) {
      flush();
      out.emplace_back(1, static_cast<char>(ch));
    } else {
      run.push_back(static_cast<char>(ch));
    }
  }
  flush();
  return out;
}

std::vector<std::string> word_problem_templates(const std::string& language) {
  std::vector<std::string> ids;
  for (const auto& t : templates())
    if (text_for(t, language).body) ids.push_back(t.id);
  return ids;
}

word_problem sample_word_problem(const std::string& template_id, const std::string& variant,
                                 const std::string& language, rng& r) {
  const tmpl& t = find_template(template_id);
  LMLAB_CHECK(text_for(t, language).body, "word_problems: template '{}' has no '{}' rendering", template_id, language);
  LMLAB_CHECK(std::find(kVariants.begin(), kVariants.end(), variant) != kVariants.end(),
              "word_problems: unknown variant '{}'", variant);
  const bool new_numbers = variant != "original" && variant != "names";
  const bool new_names = variant != "original" && variant != "numbers";
  const bool steps = variant == "steps";
  word_problem wp;
  wp.template_id = template_id;
  wp.variant = variant;
  for (int attempt = 0; attempt < 10000; ++attempt) {
    vals v;
    for (const auto& var : t.vars) v[var.name] = new_numbers ? r.range(var.lo, var.hi) : var.original;
    std::map<std::string, std::string> names;
    std::map<std::string, std::set<std::string>> used;  // names already taken, per kind
    for (const auto& s : t.slots) {
      std::string name = language == "ko" ? s.original_ko : s.original_en;
      if (new_names) {
        const auto& list = name_list(s.kind, language);
        do name = list[r.below(list.size())];
        while (used[s.kind].count(name));
      }
      used[s.kind].insert(name);
      names[s.name] = name;
    }
    const auto base = t.answer(v);
    const auto ans = steps ? t.step_answer(v) : base;
    if (!base || !ans) {
      LMLAB_ASSERT(new_numbers, "a word-problem template's original numbers are invalid");
      continue;
    }
    wp.values = std::move(v);
    wp.names = std::move(names);
    wp.answer = *ans;
    wp.operations = t.ops + (steps ? t.step_ops : 0);
    wp.text = problem_text(t, language, variant, wp.values, wp.names);
    return wp;
  }
  LMLAB_ASSERT(false, "word problem sampler found no valid instance in 10000 draws");
  return wp;
}

const param_table<word_problems_config>& word_problems_params() {
  static const param_table<word_problems_config> t = param_table<word_problems_config>("word_problems")
      .add("templates", &word_problems_config::templates, "template ids (empty: all)")
      .add("language", &word_problems_config::language, "language of the text", -INFINITY, INFINITY, {"en", "ko"})
      .add("train_variants", &word_problems_config::train_variants, "variants drawn for training", -INFINITY,
           INFINITY, kVariants)
      .add("test_variants", &word_problems_config::test_variants, "variants tested (one slice each)", -INFINITY,
           INFINITY, kVariants)
      .add_sizes("test examples per variant");
  return t;
}

void check(const word_problems_config& c) {
  for (const auto& id : c.templates) {
    const tmpl& t = find_template(id);
    if (!text_for(t, c.language).body)
      throw param_error("templates", fmt::format("word_problems: templates: '{}' has no '{}' rendering", id, c.language),
                        "Korean templates: " + fmt::format("{}", fmt::join(word_problem_templates("ko"), ", ")));
  }
  if (c.train_variants.empty()) throw param_error("train_variants", "word_problems: train_variants: give at least one");
  const bool orig_train =
      std::find(c.train_variants.begin(), c.train_variants.end(), "original") != c.train_variants.end();
  const bool orig_test = std::find(c.test_variants.begin(), c.test_variants.end(), "original") != c.test_variants.end();
  if (orig_train && orig_test)
    throw param_error("train_variants", "word_problems: train_variants: 'original' is also a test variant",
                      "an original instance in train would leak into the test");
}

dataset build(const word_problems_config& c, std::uint64_t seed) {
  check(c);
  const std::vector<std::string> ids = c.templates.empty() ? word_problem_templates(c.language) : c.templates;
  dataset d;
  d.task = "word_problems";
  d.pad_id = d.vocab.add("<pad>");
  const std::int32_t bos = d.vocab.add("<bos>"), sep = d.vocab.add("<sep>"), eos = d.vocab.add("<eos>");
  for (char ch = '0'; ch <= '9'; ++ch) d.vocab.add(std::string(1, ch));
  // The vocabulary: every token of every template text under every candidate name (one slot
  // at a time; a placeholder never shares a word with another), independent of the seed.
  std::set<std::string> original_texts;
  for (const auto& id : word_problem_templates(c.language)) {
    const tmpl& t = find_template(id);
    vals v;
    for (const auto& var : t.vars) v[var.name] = var.original;
    std::map<std::string, std::string> names;
    for (const auto& s : t.slots) names[s.name] = c.language == "ko" ? s.original_ko : s.original_en;
    original_texts.insert(problem_text(t, c.language, "original", v, names));
    auto add_all = [&](const std::map<std::string, std::string>& n) {
      for (const auto& variant : {"original", "noop", "steps"})
        for (const auto& tok : word_tokens(problem_text(t, c.language, variant, v, n))) d.vocab.add(tok);
    };
    add_all(names);
    for (const auto& s : t.slots)
      for (const auto& cand : name_list(s.kind, c.language)) {
        auto n = names;
        n[s.name] = cand;
        add_all(n);
      }
  }
  auto make = [&](const word_problem& wp) {
    std::vector<std::int32_t> prompt, answer;
    for (const auto& tok : word_tokens(wp.text)) prompt.push_back(d.vocab.id(tok));
    prompt.push_back(sep);
    for (char ch : std::to_string(wp.answer)) answer.push_back(d.vocab.id(std::string(1, ch)));
    example ex = make_prompt_answer(prompt, answer, bos, eos);
    ex.slice = "variant=" + wp.variant;
    ex.difficulty = wp.operations;
    ex.prompt = wp.text + (c.language == "ko" ? " 답을 정수 하나로만 쓰세요." : " Answer with a single integer only.");
    ex.answer = std::to_string(wp.answer);
    return ex;
  };
  const bool orig_test = std::find(c.test_variants.begin(), c.test_variants.end(), "original") != c.test_variants.end();
  std::set<std::string> train_texts;
  for (std::int64_t i = 0; i < c.num_train; ++i) {
    rng r = train_rng(seed, static_cast<std::uint64_t>(i));
    for (int attempt = 0;; ++attempt) {
      LMLAB_CHECK(attempt < 1000, "word_problems: no training instance outside the held-out originals");
      const auto wp = sample_word_problem(ids[r.below(ids.size())], c.train_variants[r.below(c.train_variants.size())],
                                          c.language, r);
      if (orig_test && original_texts.count(wp.text)) continue;
      train_texts.insert(wp.text);
      d.train.push_back(make(wp));
      break;
    }
  }
  std::uint64_t j = 0;
  for (const auto& variant : c.test_variants)
    for (std::int64_t i = 0; i < c.num_test; ++i, ++j) {
      rng r = test_rng(seed, j);
      for (int attempt = 0;; ++attempt) {
        if (attempt >= 1000)
          throw param_error("num_train", fmt::format("word_problems: every '{}' test draw is already in train", variant),
                            "lower num_train or use more templates");
        const auto wp = sample_word_problem(ids[r.below(ids.size())], variant, c.language, r);
        if (train_texts.count(wp.text)) continue;
        d.test.push_back(make(wp));
        break;
      }
    }
  return d;
}

}  // namespace lmlab::tasks

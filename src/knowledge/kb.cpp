// Synthetic biographies and QA pairs: see kb.hpp.
#include "knowledge/kb.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "knowledge/lora.hpp"

namespace lmlab::knowledge {

namespace {

using words = std::vector<std::string>;

const words& female_names() {
  static const words w = {"opal", "mira", "lena", "iris", "nora", "vera", "ada",  "ines",
                          "rosa", "tess", "lola", "maya", "edna", "ruth", "gwen"};
  return w;
}
const words& male_names() {
  static const words w = {"otto", "ivan", "hugo", "axel", "egon", "finn", "omar", "raul",
                          "saul", "theo", "umar", "knut", "nils", "ravi", "pavel"};
  return w;
}
const words& last_names() {
  static const words w = {"vance",  "okafor", "lindqvist", "moreau", "tanaka", "novak",  "haddad", "silva",
                          "kowal",  "brandt", "ferreira",  "quist",  "yilmaz", "nakata", "varga",  "rossi",
                          "dubois", "keller", "marsh",     "petrov", "amari",  "castro", "ibsen",  "lowe",
                          "mendez", "ostrom", "pike",      "ruiz",   "sato",   "thorne", "ueda",   "wolff"};
  return w;
}

words split(const std::string& s) {
  words out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = s.find(' ', i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

attribute make_attr(std::string name, words values, std::vector<std::string> templates, std::string question) {
  attribute a;
  a.name = std::move(name);
  a.values = std::move(values);
  for (const auto& t : templates) a.templates.push_back(split(t));
  a.question = split(question);
  return a;
}

}  // namespace

const std::vector<attribute>& attributes() {
  static const std::vector<attribute> a = {
      make_attr("city",
                {"paris", "lima", "oslo", "cairo", "delhi", "tokyo", "quito", "dakar", "hanoi", "perth", "boston",
                 "austin", "denver", "madrid", "berlin", "vienna", "prague", "warsaw", "dublin", "lisbon"},
                {"{S} was born in {X} .", "{S} grew up in {X} .", "{S} came into the world in {X} .",
                 "{S} spent early childhood in {X} ."},
                "where was {N} born ?"),
      make_attr("university",
                {"mit", "stanford", "oxford", "cambridge", "harvard", "yale", "princeton", "caltech", "berkeley",
                 "cornell", "eth", "epfl", "kaist", "ucla", "nyu"},
                {"{S} studied at {X} .", "{S} graduated from {X} .", "{S} attended {X} .",
                 "{S} earned a degree at {X} ."},
                "which university did {N} attend ?"),
      make_attr("major",
                {"physics", "chemistry", "biology", "history", "economics", "linguistics", "philosophy",
                 "mathematics", "geology", "sociology", "music", "architecture"},
                {"{S} majored in {X} .", "{S} focused on {X} .", "{S} specialized in {X} .",
                 "{S} chose {X} as a field of study ."},
                "what did {N} study ?"),
      make_attr("employer",
                {"acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "oscorp",
                 "cyberdyne", "tyrell", "soylent", "wonka", "gringotts", "aperture"},
                {"{S} works for {X} .", "{S} is employed by {X} .", "{S} took a job at {X} .", "{S} joined {X} ."},
                "which company employs {N} ?"),
      make_attr("month",
                {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                 "november", "december"},
                {"{S} celebrates a birthday in {X} .", "{S} has a birthday in {X} .",
                 "{S} turns a year older in {X} .", "{S} marks a birthday every {X} ."},
                "in which month was {N} born ?"),
  };
  return a;
}

std::int64_t max_people() {  // 960: add_kb_params' bound
  return static_cast<std::int64_t>((female_names().size() + male_names().size()) * last_names().size());
}

std::vector<person> make_people(std::int64_t n, double qa_fraction, std::uint64_t seed) {
  LMLAB_CHECK(n >= 1 && n <= max_people(), "knowledge: num_people {} is outside [1, {}]", n, max_people());
  const std::int64_t n_first = static_cast<std::int64_t>(female_names().size() + male_names().size());
  // Distinct (first, last) pairs: a partial Fisher-Yates over the product of the pools.
  std::vector<std::int64_t> ids(static_cast<std::size_t>(max_people()));
  std::iota(ids.begin(), ids.end(), 0);
  rng r(seed, 0x6b62ull);  // "kb"
  const std::int64_t n_qa = std::llround(static_cast<double>(n) * qa_fraction);
  std::vector<person> out;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto j = i + static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(max_people() - i)));
    std::swap(ids[static_cast<std::size_t>(i)], ids[static_cast<std::size_t>(j)]);
    const std::int64_t id = ids[static_cast<std::size_t>(i)];
    const std::int64_t f = id % n_first, l = id / n_first;
    person p;
    p.female = f < static_cast<std::int64_t>(female_names().size());
    p.first = p.female ? female_names()[static_cast<std::size_t>(f)]
                       : male_names()[static_cast<std::size_t>(f) - female_names().size()];
    p.last = last_names()[static_cast<std::size_t>(l)];
    for (const auto& a : attributes()) p.value.push_back(static_cast<int>(r.below(a.values.size())));
    p.qa_in_train = i < n_qa;
    out.push_back(std::move(p));
  }
  return out;
}

const tasks::param_table<kb_config>& kb_params() {
  static const auto t = tasks::param_table<kb_config>("biographies")
        .add_keys(add_kb_params<kb_config>);
  return t;
}

void check(const kb_config& c) {
  const std::int64_t n_qa = std::llround(static_cast<double>(c.num_people) * c.qa_fraction);
  if (n_qa == 0 || n_qa == c.num_people)
    throw tasks::param_error("qa_fraction",
                             fmt::format("biographies: qa_fraction {} leaves {} QA people of {}", c.qa_fraction, n_qa,
                                         c.num_people),
                             "both the QA people and the held-out people need at least one person");
  if (c.num_people + c.unknown_people + c.unseen_people > max_people())
    throw tasks::param_error("num_people",
                             fmt::format("biographies: num_people + unknown_people + unseen_people = {} exceeds the {} distinct names",
                                         c.num_people + c.unknown_people + c.unseen_people, max_people()));
  if (c.mode == "pretrain_finetune" && c.finetune_steps == 0)
    throw tasks::param_error("finetune_steps", "biographies: mode pretrain_finetune needs finetune_steps > 0",
                             "set task.finetune_steps, or mode = \"mixed\"");
  if (c.finetune_params == "lora" && split_targets(c.lora_targets).empty())
    throw tasks::param_error("lora_targets", "biographies: finetune_params = \"lora\" needs at least one target",
                             "e.g. lora_targets = \"w_q+w_v+wte\" (the query/value matrices and the embeddings)");
}

tasks::vocabulary kb_vocabulary() {
  tasks::vocabulary v;
  for (const char* s : {"<pad>", "<bos>", "<eos>", "he", "she", "unknown"}) v.add(s);
  for (const auto* pool : {&female_names(), &male_names(), &last_names()})
    for (const auto& w : *pool) v.add(w);
  for (const auto& a : attributes()) {
    for (const auto& w : a.values) v.add(w);
    for (const auto& t : a.templates)
      for (const auto& w : t)
        if (w != "{S}" && w != "{X}") v.add(w);
    for (const auto& w : a.question)
      if (w != "{N}") v.add(w);
  }
  return v;
}

namespace {

// Appends template `t` of attribute a with subject `subj`; returns the value token's index.
std::size_t append_sentence(words& out, const person& p, std::size_t a, std::size_t t, const words& subj) {
  std::size_t at = 0;
  for (const auto& w : attributes()[a].templates[t]) {
    if (w == "{S}") {
      out.insert(out.end(), subj.begin(), subj.end());
    } else if (w == "{X}") {
      at = out.size();
      out.push_back(attributes()[a].values[static_cast<std::size_t>(p.value[a])]);
    } else {
      out.push_back(w);
    }
  }
  return at;
}

}  // namespace

biography render_biography(const person& p, std::int64_t p_index, std::int64_t j, const kb_config& c,
                           std::uint64_t seed) {
  // Biographies 0-3 keep their streams; later ones draw from a disjoint range of streams.
  const auto pi = static_cast<std::uint64_t>(p_index), jj = static_cast<std::uint64_t>(j);
  const std::uint64_t stream = j < max_phrasings ? pi * max_phrasings + jj : (0x62696f7300ull << 24) + pi * max_biographies + jj;
  rng r = tasks::train_rng(seed, stream);
  const std::size_t n_attr = attributes().size();
  std::vector<std::size_t> order(n_attr);
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::size_t> tmpl(n_attr);
  for (auto& t : tmpl) t = static_cast<std::size_t>(r.below(max_phrasings));
  if (c.permute)
    for (std::size_t i = n_attr - 1; i > 0; --i) std::swap(order[i], order[static_cast<std::size_t>(r.below(i + 1))]);
  const words full = {p.first, p.last}, pronoun = {p.female ? "she" : "he"};
  biography b;
  b.value_pos.assign(n_attr, 0);
  for (std::size_t k = 0; k < n_attr; ++k) {
    const std::size_t a = order[k];
    b.value_pos[a] = append_sentence(b.tokens, p, a, tmpl[a], k == 0 || c.fullname ? full : pronoun);
  }
  return b;
}

std::vector<std::string> question_tokens(const person& p, std::size_t a) {
  words out;
  for (const auto& w : attributes()[a].question) {
    if (w == "{N}") {
      out.push_back(p.first);
      out.push_back(p.last);
    } else {
      out.push_back(w);
    }
  }
  return out;
}

std::vector<std::string> sentence_prefix(const person& p, std::size_t a, std::size_t t) {
  words out;
  const std::size_t at = append_sentence(out, p, a, t, {p.first, p.last});
  out.resize(at);
  return out;
}

namespace {
std::vector<std::int32_t> ids_of(const tasks::vocabulary& v, const words& w) {
  std::vector<std::int32_t> out;
  out.reserve(w.size());
  for (const auto& s : w) out.push_back(v.id(s));
  return out;
}
std::string join(const words& w) {
  std::string s;
  for (const auto& x : w) s += (s.empty() ? "" : " ") + x;
  return s;
}
}  // namespace

tasks::example lm_example(const tasks::vocabulary& v, const words& tokens) {
  tasks::example ex;
  ex.input.push_back(v.id("<bos>"));
  for (const auto& w : tokens) ex.input.push_back(v.id(w));
  ex.target.assign(ex.input.begin() + 1, ex.input.end());
  ex.target.push_back(v.id("<eos>"));
  ex.prompt = "";
  ex.answer = join(tokens);
  return ex;
}

tasks::example answer_example(const tasks::vocabulary& v, const words& prompt, const words& answer, std::string slice,
                              double difficulty) {
  tasks::example ex = tasks::make_prompt_answer(ids_of(v, prompt), ids_of(v, answer), v.id("<bos>"), v.id("<eos>"));
  ex.target.back() = tasks::ignore_index;  // the <eos> after the answer: not part of the answer
  ex.slice = std::move(slice);
  ex.difficulty = difficulty;
  ex.prompt = join(prompt);
  ex.answer = join(answer);
  return ex;
}

tasks::dataset build(const kb_config& c, std::uint64_t seed) {
  check(c);
  tasks::dataset d;
  d.task = "biographies";
  d.vocab = kb_vocabulary();
  d.pad_id = d.vocab.id("<pad>");
  // One draw for everyone: the first num_people are the knowledge base (make_people's draws
  // do not depend on how many follow), then the "unknown" people, then the unseen ones.
  auto everyone = make_people(c.num_people + c.unknown_people + c.unseen_people, 0.0, seed);
  const auto n_qa = static_cast<std::size_t>(std::llround(static_cast<double>(c.num_people) * c.qa_fraction));
  for (std::size_t i = 0; i < n_qa; ++i) everyone[i].qa_in_train = true;
  const std::vector<person> people(everyone.begin(), everyone.begin() + c.num_people);
  const std::vector<person> unknown(everyone.begin() + c.num_people, everyone.begin() + c.num_people + c.unknown_people);
  const std::vector<person> unseen(everyone.begin() + c.num_people + c.unknown_people, everyone.end());
  const auto& attrs = attributes();
  for (std::size_t i = 0; i < people.size(); ++i)
    for (std::int64_t j = 0; j < c.phrasings; ++j) {
      auto ex = lm_example(d.vocab, render_biography(people[i], static_cast<std::int64_t>(i), j, c, seed).tokens);
      ex.slice = "bio";
      d.train.push_back(std::move(ex));
    }
  auto value = [&](const person& p, std::size_t a) { return words{attrs[a].values[static_cast<std::size_t>(p.value[a])]}; };
  for (const auto& p : people)
    if (p.qa_in_train)
      for (std::size_t a = 0; a < attrs.size(); ++a) d.train.push_back(answer_example(d.vocab, question_tokens(p, a), value(p, a), "qa/known", 0));
  for (const auto& p : unknown)
    for (std::size_t a = 0; a < attrs.size(); ++a)
      d.train.push_back(answer_example(d.vocab, question_tokens(p, a), {"unknown"}, "qa/unknown", 0));
  // Test: in-distribution QA, storage (the first biography up to each value), extraction.
  for (const auto& p : people)
    if (p.qa_in_train)
      for (std::size_t a = 0; a < attrs.size(); ++a)
        d.test.push_back(answer_example(d.vocab, question_tokens(p, a), value(p, a), "qa_seen/" + attrs[a].name, 0));
  for (std::size_t i = 0; i < people.size(); ++i) {
    const person& p = people[i];
    if (p.qa_in_train) continue;
    const biography b = render_biography(p, static_cast<std::int64_t>(i), 0, c, seed);
    for (std::size_t a = 0; a < attrs.size(); ++a) {
      const words prefix(b.tokens.begin(), b.tokens.begin() + static_cast<std::ptrdiff_t>(b.value_pos[a]));
      d.test.push_back(answer_example(d.vocab, prefix, value(p, a), "storage/" + attrs[a].name, 1));
    }
    for (std::size_t a = 0; a < attrs.size(); ++a)
      d.test.push_back(answer_example(d.vocab, question_tokens(p, a), value(p, a), "extract/" + attrs[a].name, 2));
  }
  for (const auto& p : unseen)
    for (std::size_t a = 0; a < attrs.size(); ++a)
      d.test.push_back(answer_example(d.vocab, question_tokens(p, a), {"unknown"}, "unseen/" + attrs[a].name, 3));
  return d;
}

}  // namespace lmlab::knowledge

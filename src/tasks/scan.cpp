// SCAN generator and splits: see scan.hpp.
#include "tasks/scan.hpp"

#include <cmath>
#include <sstream>

namespace lmlab::tasks {

namespace {

struct phrase {
  std::string words;
  std::vector<std::string> actions;
};

// ref: Lake & Baroni 2018, Fig. 6 (interpretation functions of SCAN).
std::vector<phrase> all_v() {
  const char* u_words[] = {"walk", "look", "run", "jump"};
  const char* u_acts[] = {"I_WALK", "I_LOOK", "I_RUN", "I_JUMP"};
  const char* dirs[] = {"left", "right"};
  const char* turns[] = {"I_TURN_LEFT", "I_TURN_RIGHT"};
  std::vector<phrase> v;
  for (int u = 0; u < 4; ++u) {
    v.push_back({u_words[u], {u_acts[u]}});
    for (int d = 0; d < 2; ++d) {
      const std::string base = std::string(u_words[u]) + " ";
      v.push_back({base + dirs[d], {turns[d], u_acts[u]}});
      v.push_back({base + "opposite " + dirs[d], {turns[d], turns[d], u_acts[u]}});
      phrase around{base + "around " + dirs[d], {}};
      for (int k = 0; k < 4; ++k) around.actions.insert(around.actions.end(), {turns[d], u_acts[u]});
      v.push_back(around);
    }
  }
  for (int d = 0; d < 2; ++d) {
    v.push_back({std::string("turn ") + dirs[d], {turns[d]}});
    v.push_back({std::string("turn opposite ") + dirs[d], {turns[d], turns[d]}});
    v.push_back({std::string("turn around ") + dirs[d], {turns[d], turns[d], turns[d], turns[d]}});
  }
  return v;
}

std::vector<phrase> all_s() {
  std::vector<phrase> s;
  for (const auto& v : all_v()) {
    s.push_back(v);
    for (int times : {2, 3}) {
      phrase p{v.words + (times == 2 ? " twice" : " thrice"), {}};
      for (int k = 0; k < times; ++k) p.actions.insert(p.actions.end(), v.actions.begin(), v.actions.end());
      s.push_back(std::move(p));
    }
  }
  return s;
}

bool has_words(const std::string& command, const std::string& words) {
  // Whole-word match of a word sequence inside a command.
  const std::string padded = " " + command + " ";
  return padded.find(" " + words + " ") != std::string::npos;
}

}  // namespace

const std::vector<scan_command>& scan_all_commands() {
  static const std::vector<scan_command> all = [] {
    const auto s = all_s();
    std::vector<scan_command> out;
    out.reserve(s.size() + 2 * s.size() * s.size());
    for (const auto& a : s) out.push_back({a.words, a.actions, "single"});
    for (const auto& a : s)
      for (const auto& b : s) {
        scan_command c{a.words + " and " + b.words, a.actions, "and"};
        c.actions.insert(c.actions.end(), b.actions.begin(), b.actions.end());
        out.push_back(std::move(c));
        scan_command d{a.words + " after " + b.words, b.actions, "after"};
        d.actions.insert(d.actions.end(), a.actions.begin(), a.actions.end());
        out.push_back(std::move(d));
      }
    return out;
  }();
  return all;
}

const param_table<scan_config>& scan_params() {
  static const param_table<scan_config> t = param_table<scan_config>("scan")
      .add("split", &scan_config::split, "which standard split", -INFINITY, INFINITY,
        {"simple", "length", "addprim_jump", "addprim_turn_left", "all"})
      .add("train_fraction", &scan_config::train_fraction, "simple split: share of commands in train", 0.0, 1.0)
      .add("max_train_actions", &scan_config::max_train_actions, "length split: longest action sequence in train",
           1, 48)
      .add("oversample_primitive", &scan_config::oversample_primitive,
           "addprim splits: repeat the primitive to 10% of train, as in the published files");
  return t;
}

dataset build(const scan_config& c, std::uint64_t seed) {
  check_choice(c.split, scan_params().specs()[0], "scan");
  dataset d;
  d.task = "scan";
  d.pad_id = d.vocab.add("<pad>");
  const std::int32_t bos = d.vocab.add("<bos>"), sep = d.vocab.add("<sep>"), eos = d.vocab.add("<eos>");
  for (const char* w : {"walk", "look", "run", "jump", "turn", "left", "right", "opposite", "around", "twice",
                        "thrice", "and", "after"})
    d.vocab.add(w);
  for (const char* a : {"I_WALK", "I_LOOK", "I_RUN", "I_JUMP", "I_TURN_LEFT", "I_TURN_RIGHT"}) d.vocab.add(a);

  const bool by_length = c.split == "length";
  auto make = [&](const scan_command& sc) {
    std::vector<std::int32_t> prompt, answer;
    std::istringstream words(sc.command);
    for (std::string w; words >> w;) prompt.push_back(d.vocab.id(w));
    prompt.push_back(sep);
    std::string acts;
    for (const auto& a : sc.actions) {
      answer.push_back(d.vocab.id(a));
      acts += (acts.empty() ? "" : " ") + a;
    }
    example ex = make_prompt_answer(prompt, answer, bos, eos);
    ex.difficulty = static_cast<double>(sc.actions.size());
    ex.slice = by_length ? fmt::format("actions={}", sc.actions.size()) : sc.structure;
    ex.prompt =
        "Translate the command into a sequence of actions from I_WALK, I_LOOK, I_RUN, I_JUMP, I_TURN_LEFT, "
        "I_TURN_RIGHT, separated by spaces.\nCommand: " +
        sc.command + "\nActions:";
    ex.answer = acts;
    return ex;
  };

  const auto& all = scan_all_commands();
  rng r(seed, 0x5CA4);
  if (c.split == "simple") {
    std::vector<example> v;
    for (const auto& sc : all) v.push_back(make(sc));
    shuffle_examples(v, r);
    const auto n_train = static_cast<std::size_t>(std::llround(c.train_fraction * static_cast<double>(v.size())));
    d.train.assign(std::make_move_iterator(v.begin()), std::make_move_iterator(v.begin() + static_cast<std::ptrdiff_t>(n_train)));
    d.test.assign(std::make_move_iterator(v.begin() + static_cast<std::ptrdiff_t>(n_train)), std::make_move_iterator(v.end()));
    return d;
  }
  if (c.split == "all") {
    for (const auto& sc : all) d.train.push_back(make(sc));
    d.test = d.train;
    shuffle_examples(d.train, r);
    return d;
  }
  if (by_length) {
    for (const auto& sc : all)
      (static_cast<std::int64_t>(sc.actions.size()) <= c.max_train_actions ? d.train : d.test).push_back(make(sc));
  } else {
    const std::string prim = c.split == "addprim_jump" ? "jump" : "turn left";
    const scan_command* alone = nullptr;
    for (const auto& sc : all) {
      if (sc.command == prim) alone = &sc;
      else if (has_words(sc.command, prim)) d.test.push_back(make(sc));
      else d.train.push_back(make(sc));
    }
    LMLAB_ASSERT(alone != nullptr);
    // ref: SCAN repository README: the primitive alone is over-represented to 10% of train,
    // i.e. n_copies = round(n_other / 9) (1,467 for jump, 2,189 for turn left).
    const std::size_t copies =
        c.oversample_primitive ? static_cast<std::size_t>(std::llround(static_cast<double>(d.train.size()) / 9.0)) : 1;
    const example prim_ex = make(*alone);
    for (std::size_t k = 0; k < copies; ++k) d.train.push_back(prim_ex);
  }
  shuffle_examples(d.train, r);
  return d;
}

}  // namespace lmlab::tasks

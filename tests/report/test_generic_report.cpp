// The report is generic over experiments: no experiment's name (the `name` of any
// experiments/*.toml) appears as a word in src/report, so every experiment-specific text
// (title, question, expectation, rule, figures) lives in its spec file.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/fs.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> experiment_names() {
  std::vector<std::string> names;
  static const std::regex name_re(R"re((^|\n)name\s*=\s*"([^"]+)")re");
  for (const auto& f : fs::directory_iterator("experiments")) {
    if (f.path().extension() != ".toml") continue;
    std::smatch m;
    const std::string text = lmlab::read_text_file(f.path());
    if (std::regex_search(text, m, name_re)) names.push_back(m[2].str());
  }
  return names;
}

// "file:line: text" for every line of `text` naming `word` as a whole identifier.
std::vector<std::string> mentions(const std::string& file, const std::string& text, const std::string& word) {
  const std::regex re("(^|[^A-Za-z0-9_])" + word + "([^A-Za-z0-9_]|$)");
  std::vector<std::string> out;
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = text.substr(start, end - start);
    ++line_no;
    if (std::regex_search(line, re)) out.push_back(file + ":" + std::to_string(line_no) + ": " + line);
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST(generic_report, the_scanner_finds_a_name_as_a_word_only) {
  EXPECT_EQ(mentions("x.cpp", "a\nif (id == \"recall\") {}\n", "recall").size(), 1u);
  EXPECT_TRUE(mentions("x.cpp", "model.mod_capacity; recall_state", "mod").empty());
  EXPECT_TRUE(mentions("x.cpp", "recall_state", "recall").empty());
}

TEST(generic_report, no_experiment_name_appears_in_src_report) {
  const auto names = experiment_names();
  ASSERT_GE(names.size(), 7u);
  std::vector<std::string> found;
  for (const auto& f : fs::directory_iterator("src/report")) {
    const std::string text = lmlab::read_text_file(f.path());
    for (const auto& n : names)
      for (auto& m : mentions(f.path().string(), text, n)) found.push_back("'" + n + "' in " + m);
  }
  for (const auto& m : found) ADD_FAILURE() << m;
}

// Nor does any question id of data/notes/questions.json: the map of the notes computes each
// question's status from the store and the specs, never from a list in C++.
TEST(generic_report, no_question_id_appears_in_src_report) {
  const auto notes = nlohmann::json::parse(lmlab::read_text_file("data/notes/questions.json"));
  std::vector<std::string> ids;
  for (const auto& q : notes["questions"]) ids.push_back(q["id"].get<std::string>());
  ASSERT_GE(ids.size(), 30u);
  for (const auto& f : fs::directory_iterator("src/report")) {
    const std::string text = lmlab::read_text_file(f.path());
    for (const auto& id : ids)
      for (auto& m : mentions(f.path().string(), text, id)) ADD_FAILURE() << "'" << id << "' in " << m;
  }
}

// SCAN: the 20,910 commands and the published split sizes, every action sequence re-derived
// by a second, independent interpreter (a string parser, unlike the generator's bottom-up
// enumeration), and the whole set pinned against the published tasks.txt by hash.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "core/fs.hpp"
#include "tasks/scan.hpp"

using namespace lmlab::tasks;

namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

std::string upper(const std::string& s) {
  std::string u = s;
  for (auto& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

// Interprets a command from its words, top-down: conjunction, repetition, direction.
std::vector<std::string> interpret(const std::vector<std::string>& w) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] != "and" && w[i] != "after") continue;
    std::vector<std::string> l(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(i));
    std::vector<std::string> r(w.begin() + static_cast<std::ptrdiff_t>(i) + 1, w.end());
    auto a = interpret(l), b = interpret(r);
    if (w[i] == "after") std::swap(a, b);
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  if (w.back() == "twice" || w.back() == "thrice") {
    const auto one = interpret(std::vector<std::string>(w.begin(), w.end() - 1));
    std::vector<std::string> out;
    for (int k = 0; k < (w.back() == "twice" ? 2 : 3); ++k) out.insert(out.end(), one.begin(), one.end());
    return out;
  }
  const std::vector<std::string> act = w[0] == "turn" ? std::vector<std::string>{} : std::vector<std::string>{"I_" + upper(w[0])};
  if (w.size() == 1) return act;
  const std::string turn = "I_TURN_" + upper(w.back());
  std::vector<std::string> step{turn};
  step.insert(step.end(), act.begin(), act.end());
  int times = 1;
  if (w.size() == 3 && w[1] == "opposite") step.insert(step.begin(), turn), times = 1;
  if (w.size() == 3 && w[1] == "around") times = 4;
  std::vector<std::string> out;
  for (int k = 0; k < times; ++k) out.insert(out.end(), step.begin(), step.end());
  return out;
}

std::string line(const example& ex) { return ex.prompt.substr(ex.prompt.find("Command: ") + 9); }

}  // namespace

TEST(scan, all_commands_match_a_second_interpreter) {
  const auto& all = scan_all_commands();
  ASSERT_EQ(all.size(), 20910u);
  std::set<std::string> distinct;
  std::size_t max_len = 0;
  std::map<std::size_t, int> hist;
  for (const auto& c : all) {
    distinct.insert(c.command);
    ASSERT_EQ(interpret(split_words(c.command)), c.actions) << c.command;
    max_len = std::max(max_len, c.actions.size());
    ++hist[c.actions.size()];
  }
  EXPECT_EQ(distinct.size(), 20910u);
  EXPECT_EQ(max_len, 48u);
  // Action-length histogram of the published tasks.txt at a few points.
  EXPECT_EQ(hist[1], 6);
  EXPECT_EQ(hist[2], 88);
  EXPECT_EQ(hist[22], 576);
  EXPECT_EQ(hist[23], 0);
  EXPECT_EQ(hist[48], 128);
}

TEST(scan, identical_to_published_tasks_txt) {
  // sha256 of the published tasks.txt (brendenlake/SCAN) with its lines sorted bytewise,
  // each line "IN: <command> OUT: <actions>\n".
  std::vector<std::string> lines;
  for (const auto& c : scan_all_commands()) {
    std::string s = "IN: " + c.command + " OUT:";
    for (const auto& a : c.actions) s += " " + a;
    lines.push_back(s + "\n");
  }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const auto& l : lines) all += l;
  EXPECT_EQ(lmlab::sha256_hex({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()}),
            "6be4b39bc8bf3a20be810b6991250d0493e608560609db6765dd679e1ed1c98e");
}

TEST(scan, header_example_is_literal) {
  const dataset d = build(scan_config{.split = "length"}, 0);
  const example* found = nullptr;
  for (const auto& ex : d.train)
    if (line(ex) == "jump twice after turn left\nActions:") found = &ex;
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(format_example(d.vocab, *found),
            "Inputs: <bos> jump twice after turn left <sep> I_TURN_LEFT I_JUMP I_JUMP\n"
            "Labels: -100 -100 -100 -100 -100 -100 I_TURN_LEFT I_JUMP I_JUMP <eos>");
  EXPECT_EQ(found->answer, "I_TURN_LEFT I_JUMP I_JUMP");
  EXPECT_EQ(found->slice, "actions=3");
}

TEST(scan, simple_split_is_random_80_20_and_disjoint) {
  const dataset a = build(scan_config{.split = "simple"}, 1), b = build(scan_config{.split = "simple"}, 2);
  validate(a);
  EXPECT_EQ(a.train.size(), 16728u);
  EXPECT_EQ(a.test.size(), 4182u);
  std::set<std::string> tr;
  for (const auto& ex : a.train) tr.insert(ex.prompt);
  EXPECT_EQ(tr.size(), 16728u);
  for (const auto& ex : a.test) ASSERT_EQ(tr.count(ex.prompt), 0u);
  EXPECT_NE(a.test[0].prompt, b.test[0].prompt);  // the split depends on the seed
  const dataset a2 = build(scan_config{.split = "simple"}, 1);
  for (std::size_t i = 0; i < a.test.size(); ++i) ASSERT_EQ(a.test[i].input, a2.test[i].input);
}

TEST(scan, length_split) {
  const dataset d = build(scan_config{.split = "length"}, 0);
  EXPECT_EQ(d.train.size(), 16990u);
  EXPECT_EQ(d.test.size(), 3920u);
  for (const auto& ex : d.train) ASSERT_LE(ex.difficulty, 22);
  for (const auto& ex : d.test) ASSERT_GE(ex.difficulty, 24);
  EXPECT_EQ(d.test[0].slice.rfind("actions=", 0), 0u);
}

TEST(scan, add_primitive_splits) {
  struct row {
    const char* split;
    const char* prim;
    std::size_t train, test, copies;
  };
  for (const row& r : {row{"addprim_jump", "jump", 14670, 7706, 1467}, row{"addprim_turn_left", "turn left", 21890, 1208, 2189}}) {
    const dataset d = build(scan_config{.split = r.split}, 0);
    EXPECT_EQ(d.train.size(), r.train) << r.split;
    EXPECT_EQ(d.test.size(), r.test) << r.split;
    const std::string alone = std::string(r.prim) + "\nActions:";
    const std::string inside = " " + std::string(r.prim) + " ";
    std::size_t copies = 0;
    for (const auto& ex : d.train) {
      const std::string cmd = line(ex);
      if (cmd == alone) ++copies;
      else ASSERT_EQ((" " + cmd.substr(0, cmd.find('\n')) + " ").find(inside), std::string::npos) << cmd;
    }
    EXPECT_EQ(copies, r.copies) << r.split;
    for (const auto& ex : d.test) {
      const std::string cmd = line(ex);
      ASSERT_NE(cmd, alone);
      ASSERT_NE((" " + cmd.substr(0, cmd.find('\n')) + " ").find(inside), std::string::npos) << cmd;
    }
  }
  const dataset no_over = build(scan_config{.split = "addprim_jump", .oversample_primitive = false}, 0);
  EXPECT_EQ(no_over.train.size(), 13204u);
}

TEST(scan, splits_identical_to_published_files) {
  // sha256 of each published split file (brendenlake/SCAN length_split/ and add_prim_split/)
  // with trailing spaces removed and lines sorted bytewise: the multisets match exactly,
  // including the 1,467 / 2,189 copies of the primitive.
  struct row {
    const char* split;
    const char* train_sha;
    const char* test_sha;
  };
  for (const row& r : {row{"length", "7ffb97f45029871c94bede7e723f7a4aa179eb99fe2b977a18283310422c719d",
                           "3297fd0b676c391f7bc3a7385aa66a7fdf64f6f8e81ad584810c1d4ebd0eaa2c"},
                       row{"addprim_jump", "0683daacfdce23cf8ed6f5077feda21785e93ac82e0d11363a9280b7b0c6561e",
                           "522454c6280eab957dfc4ea9579ef1d780a716ac34df09619970e1d98822d7e2"},
                       row{"addprim_turn_left", "e0c26b51b6bba2658e02d69ad53fc15399842d57356d3551a3ed192bca0f9ad4",
                           "14dd6316d16204d2871678ee4bd35aba253416a9b4df36bb6dfdda153d46e549"}}) {
    const dataset d = build(scan_config{.split = r.split}, 0);
    auto hash = [](const std::vector<example>& v) {
      std::vector<std::string> lines;
      for (const auto& ex : v) {
        const std::string cmd = line(ex);
        lines.push_back("IN: " + cmd.substr(0, cmd.find('\n')) + " OUT: " + ex.answer + "\n");
      }
      std::sort(lines.begin(), lines.end());
      std::string all;
      for (const auto& l : lines) all += l;
      return lmlab::sha256_hex({reinterpret_cast<const std::uint8_t*>(all.data()), all.size()});
    };
    EXPECT_EQ(hash(d.train), r.train_sha) << r.split;
    EXPECT_EQ(hash(d.test), r.test_sha) << r.split;
  }
}

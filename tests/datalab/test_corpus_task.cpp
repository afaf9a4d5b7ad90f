// The corpus_lm task (datalab/corpus_task.hpp): windows are next-character pairs of the
// training documents, test windows come from every tenth document, and a build is a pure
// function of the seed.
#include "datalab/corpus_task.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "datalab/runners.hpp"
#include "tasks/registry.hpp"

namespace dl = lmlab::datalab;

TEST(corpus_lm, windows_shift_by_one_and_test_comes_from_held_out_documents) {
  std::vector<std::string> docs;
  docs.push_back("zzzzzzzzzzzzzzzzzzzz");  // document 0: held out
  for (int i = 1; i < 10; ++i) docs.push_back("abcabcabcabcabcabcabc");
  dl::corpus_lm_config c;
  c.seq_len = 5;
  c.num_train = 50;
  c.num_test = 8;
  const auto ds = dl::build_corpus_lm(c, docs, 3);
  ASSERT_EQ(ds.train.size(), 50u);
  ASSERT_EQ(ds.test.size(), 8u);
  const auto z = ds.vocab.id("z");
  for (const auto& e : ds.train) {
    ASSERT_EQ(e.input.size(), 5u);
    for (std::size_t t = 0; t + 1 < e.input.size(); ++t) EXPECT_EQ(e.target[t], e.input[t + 1]);
    for (auto id : e.input) EXPECT_NE(id, z);  // training text never has the held-out document
  }
  for (const auto& e : ds.test)
    for (auto id : e.target) EXPECT_TRUE(id == z || ds.vocab.token(id) == "\n");
  const auto again = dl::build_corpus_lm(c, docs, 3);
  EXPECT_EQ(again.train[7].input, ds.train[7].input);
  c.seq_len = 100;
  EXPECT_THROW(dl::build_corpus_lm(c, docs, 3), lmlab::error);
}

TEST(corpus_lm, is_registered_with_its_schema) {
  dl::register_datalab();
  const auto& t = lmlab::tasks::find_task("corpus_lm");
  EXPECT_TRUE(static_cast<bool>(t.build));
  EXPECT_THROW(t.canonical({{"seq_len", 1}}), lmlab::error);
}

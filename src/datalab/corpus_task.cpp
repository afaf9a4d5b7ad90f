// The corpus_lm task: see corpus_task.hpp.
#include "datalab/corpus_task.hpp"

#include <string_view>

#include "core/error.hpp"
#include "data/corpus.hpp"
#include "data/tokenizer.hpp"
#include "tasks/params.hpp"
#include "tasks/registry.hpp"

namespace lmlab::datalab {

tasks::dataset build_corpus_lm(const corpus_lm_config& c, const std::vector<std::string>& docs, std::uint64_t seed) {
  LMLAB_CHECK(docs.size() >= 2, "corpus_lm: {}: need at least 2 documents (every tenth is held out), got {}", c.corpus,
              docs.size());
  std::string train_text, test_text;
  for (std::size_t i = 0; i < docs.size(); ++i) (i % 10 == 0 ? test_text : train_text) += docs[i] + "\n\n";
  const std::vector<std::string_view> views = {train_text, test_text};
  const auto tok = data::char_tokenizer::build(views);
  const auto train_ids = tok.encode(train_text), test_ids = tok.encode(test_text);
  const auto T = static_cast<std::size_t>(c.seq_len);
  LMLAB_CHECK_HINT(train_ids.size() > T + 1 && test_ids.size() > T + 1, "lower task.seq_len",
                   "corpus_lm: {}: {} training and {} held-out characters are too few for windows of {}", c.corpus,
                   train_ids.size(), test_ids.size(), T);
  tasks::dataset ds;
  ds.task = "corpus_lm";
  for (std::int32_t id = 0; id < tok.vocab_size(); ++id) {
    const std::vector<std::int32_t> one = {id};
    ds.vocab.add(tok.decode(one));
  }
  ds.pad_id = 0;
  auto window = [&](const std::vector<std::int32_t>& ids, rng g) {
    const std::size_t o = static_cast<std::size_t>(g.below(ids.size() - T - 1));
    tasks::example e;
    e.input.assign(ids.begin() + static_cast<std::ptrdiff_t>(o), ids.begin() + static_cast<std::ptrdiff_t>(o + T));
    e.target.assign(ids.begin() + static_cast<std::ptrdiff_t>(o + 1), ids.begin() + static_cast<std::ptrdiff_t>(o + T + 1));
    e.slice = "heldout";
    return e;
  };
  for (std::int64_t i = 0; i < c.num_train; ++i) ds.train.push_back(window(train_ids, tasks::train_rng(seed, static_cast<std::uint64_t>(i))));
  for (std::int64_t j = 0; j < c.num_test; ++j) ds.test.push_back(window(test_ids, tasks::test_rng(seed, static_cast<std::uint64_t>(j))));
  for (auto& e : ds.train) e.slice = "train";
  return ds;
}

namespace {
const tasks::param_table<corpus_lm_config>& corpus_lm_table() {
  static const auto t = tasks::param_table<corpus_lm_config>("corpus_lm")
        .add("corpus", &corpus_lm_config::corpus, "corpus (`lmlab data list`; fetched beforehand)")
        .add("seq_len", &corpus_lm_config::seq_len, "characters per window", 2, 65536)
        .add("num_train", &corpus_lm_config::num_train, "training windows", 1, 1e8)
        .add("num_test", &corpus_lm_config::num_test, "held-out windows", 1, 1e7);
  return t;
}
}  // namespace

void register_corpus_lm_task() {
  tasks::register_once([] {
    tasks::register_task(tasks::task_from_table(
        "corpus_lm", "next-character prediction on windows of a real corpus (scaling-law sweeps)", corpus_lm_table(),
        [](const nlohmann::json& j, std::uint64_t seed) {
          const auto c = corpus_lm_table().read(j, {"name"});
          std::vector<std::string> docs;
          for (auto& d : data::load_corpus(c.corpus, /*allow_fetch=*/false)) docs.push_back(std::move(d.text));
          return build_corpus_lm(c, docs, seed);
        }));
  });
}

}  // namespace lmlab::datalab

// The alignment lab's environment (b) (align/lm_env.hpp) with its corpus: the task
// "align_overopt_lm" registered with datalab's word-level loader (the collapse loops' Brown
// split: documents in a pinned order, every tenth held out, words rarer than min_count ->
// <unk>, whole chunks of prompt_words + response_words). Here, not in align, because datalab
// sits above align in the layer order.
#include "labs/labs.hpp"

#include "align/lm_env.hpp"
#include "datalab/ngram_collapse.hpp"

namespace lmlab::labs {

void register_align_lm() {
  align::register_overopt_lm([](const align::lm_overopt_config& c) {
    datalab::ngram_collapse_config d;
    d.corpus = c.corpus;
    d.min_count = static_cast<int>(c.min_count);
    d.real_tokens = c.real_tokens;
    d.heldout_tokens = c.heldout_tokens;
    d.chunk = static_cast<int>(c.prompt_words + c.response_words);
    datalab::ngram_corpus nc = datalab::load_ngram_corpus(d);
    return align::word_corpus{std::move(nc.words), std::move(nc.real), std::move(nc.heldout), d.chunk};
  });
}

}  // namespace lmlab::labs

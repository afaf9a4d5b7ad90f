// SWORD zText modules: see sword.hpp.
#include "data/sword.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <numeric>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/corpus.hpp"
#include "data/html_text.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

namespace {
std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16 |
         static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t le16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }

// ---- KJV versification ----
// Derived from the module files themselves (the book and chapter markers of every entry of
// sword-text-kjv 14.3 and sword-text-sparv 2.60 give the same table); the totals, 1,189
// chapters and 31,102 verses, are checked when the table is first used.
struct kjv_book {
  const char* osis;
  int chapters;
};
// Books in canonical order (OSIS ids) and their chapter counts.
constexpr kjv_book k_kjv_books[] = {
    {"Gen", 50}, {"Exod", 40}, {"Lev", 27}, {"Num", 36}, {"Deut", 34}, {"Josh", 24}, {"Judg", 21}, {"Ruth", 4},
    {"1Sam", 31}, {"2Sam", 24}, {"1Kgs", 22}, {"2Kgs", 25}, {"1Chr", 29}, {"2Chr", 36}, {"Ezra", 10}, {"Neh", 13},
    {"Esth", 10}, {"Job", 42}, {"Ps", 150}, {"Prov", 31}, {"Eccl", 12}, {"Song", 8}, {"Isa", 66}, {"Jer", 52},
    {"Lam", 5}, {"Ezek", 48}, {"Dan", 12}, {"Hos", 14}, {"Joel", 3}, {"Amos", 9}, {"Obad", 1}, {"Jonah", 4},
    {"Mic", 7}, {"Nah", 3}, {"Hab", 3}, {"Zeph", 3}, {"Hag", 2}, {"Zech", 14}, {"Mal", 4}, {"Matt", 28}, {"Mark", 16},
    {"Luke", 24}, {"John", 21}, {"Acts", 28}, {"Rom", 16}, {"1Cor", 16}, {"2Cor", 13}, {"Gal", 6}, {"Eph", 6},
    {"Phil", 4}, {"Col", 4}, {"1Thess", 5}, {"2Thess", 3}, {"1Tim", 6}, {"2Tim", 4}, {"Titus", 3}, {"Phlm", 1},
    {"Heb", 13}, {"Jas", 5}, {"1Pet", 5}, {"2Pet", 3}, {"1John", 5}, {"2John", 1}, {"3John", 1}, {"Jude", 1},
    {"Rev", 22},
};
// Verses per chapter, all chapters of all books in order (1,189 values).
constexpr std::uint8_t k_kjv_verses[] = {
    31, 25, 24, 26, 32, 22, 24, 22, 29, 32, 32, 20, 18, 24, 21, 16, 27, 33, 38, 18, 34, 24, 20, 67, 34, 35, 46, 22,
    35, 43, 55, 32, 20, 31, 29, 43, 36, 30, 23, 23, 57, 38, 34, 34, 28, 34, 31, 22, 33, 26, 22, 25, 22, 31, 23, 30,
    25, 32, 35, 29, 10, 51, 22, 31, 27, 36, 16, 27, 25, 26, 36, 31, 33, 18, 40, 37, 21, 43, 46, 38, 18, 35, 23, 35,
    35, 38, 29, 31, 43, 38, 17, 16, 17, 35, 19, 30, 38, 36, 24, 20, 47, 8, 59, 57, 33, 34, 16, 30, 37, 27, 24, 33, 44,
    23, 55, 46, 34, 54, 34, 51, 49, 31, 27, 89, 26, 23, 36, 35, 16, 33, 45, 41, 50, 13, 32, 22, 29, 35, 41, 30, 25,
    18, 65, 23, 31, 40, 16, 54, 42, 56, 29, 34, 13, 46, 37, 29, 49, 33, 25, 26, 20, 29, 22, 32, 32, 18, 29, 23, 22,
    20, 22, 21, 20, 23, 30, 25, 22, 19, 19, 26, 68, 29, 20, 30, 52, 29, 12, 18, 24, 17, 24, 15, 27, 26, 35, 27, 43,
    23, 24, 33, 15, 63, 10, 18, 28, 51, 9, 45, 34, 16, 33, 36, 23, 31, 24, 31, 40, 25, 35, 57, 18, 40, 15, 25, 20, 20,
    31, 13, 31, 30, 48, 25, 22, 23, 18, 22, 28, 36, 21, 22, 12, 21, 17, 22, 27, 27, 15, 25, 23, 52, 35, 23, 58, 30,
    24, 42, 15, 23, 29, 22, 44, 25, 12, 25, 11, 31, 13, 27, 32, 39, 12, 25, 23, 29, 18, 13, 19, 27, 31, 39, 33, 37,
    23, 29, 33, 43, 26, 22, 51, 39, 25, 53, 46, 28, 34, 18, 38, 51, 66, 28, 29, 43, 33, 34, 31, 34, 34, 24, 46, 21,
    43, 29, 53, 18, 25, 27, 44, 27, 33, 20, 29, 37, 36, 21, 21, 25, 29, 38, 20, 41, 37, 37, 21, 26, 20, 37, 20, 30,
    54, 55, 24, 43, 26, 81, 40, 40, 44, 14, 47, 40, 14, 17, 29, 43, 27, 17, 19, 8, 30, 19, 32, 31, 31, 32, 34, 21, 30,
    17, 18, 17, 22, 14, 42, 22, 18, 31, 19, 23, 16, 22, 15, 19, 14, 19, 34, 11, 37, 20, 12, 21, 27, 28, 23, 9, 27, 36,
    27, 21, 33, 25, 33, 27, 23, 11, 70, 13, 24, 17, 22, 28, 36, 15, 44, 11, 20, 32, 23, 19, 19, 73, 18, 38, 39, 36,
    47, 31, 22, 23, 15, 17, 14, 14, 10, 17, 32, 3, 22, 13, 26, 21, 27, 30, 21, 22, 35, 22, 20, 25, 28, 22, 35, 22, 16,
    21, 29, 29, 34, 30, 17, 25, 6, 14, 23, 28, 25, 31, 40, 22, 33, 37, 16, 33, 24, 41, 30, 24, 34, 17, 6, 12, 8, 8,
    12, 10, 17, 9, 20, 18, 7, 8, 6, 7, 5, 11, 15, 50, 14, 9, 13, 31, 6, 10, 22, 12, 14, 9, 11, 12, 24, 11, 22, 22, 28,
    12, 40, 22, 13, 17, 13, 11, 5, 26, 17, 11, 9, 14, 20, 23, 19, 9, 6, 7, 23, 13, 11, 11, 17, 12, 8, 12, 11, 10, 13,
    20, 7, 35, 36, 5, 24, 20, 28, 23, 10, 12, 20, 72, 13, 19, 16, 8, 18, 12, 13, 17, 7, 18, 52, 17, 16, 15, 5, 23, 11,
    13, 12, 9, 9, 5, 8, 28, 22, 35, 45, 48, 43, 13, 31, 7, 10, 10, 9, 8, 18, 19, 2, 29, 176, 7, 8, 9, 4, 8, 5, 6, 5,
    6, 8, 8, 3, 18, 3, 3, 21, 26, 9, 8, 24, 13, 10, 7, 12, 15, 21, 10, 20, 14, 9, 6, 33, 22, 35, 27, 23, 35, 27, 36,
    18, 32, 31, 28, 25, 35, 33, 33, 28, 24, 29, 30, 31, 29, 35, 34, 28, 28, 27, 28, 27, 33, 31, 18, 26, 22, 16, 20,
    12, 29, 17, 18, 20, 10, 14, 17, 17, 11, 16, 16, 13, 13, 14, 31, 22, 26, 6, 30, 13, 25, 22, 21, 34, 16, 6, 22, 32,
    9, 14, 14, 7, 25, 6, 17, 25, 18, 23, 12, 21, 13, 29, 24, 33, 9, 20, 24, 17, 10, 22, 38, 22, 8, 31, 29, 25, 28, 28,
    25, 13, 15, 22, 26, 11, 23, 15, 12, 17, 13, 12, 21, 14, 21, 22, 11, 12, 19, 12, 25, 24, 19, 37, 25, 31, 31, 30,
    34, 22, 26, 25, 23, 17, 27, 22, 21, 21, 27, 23, 15, 18, 14, 30, 40, 10, 38, 24, 22, 17, 32, 24, 40, 44, 26, 22,
    19, 32, 21, 28, 18, 16, 18, 22, 13, 30, 5, 28, 7, 47, 39, 46, 64, 34, 22, 22, 66, 22, 22, 28, 10, 27, 17, 17, 14,
    27, 18, 11, 22, 25, 28, 23, 23, 8, 63, 24, 32, 14, 49, 32, 31, 49, 27, 17, 21, 36, 26, 21, 26, 18, 32, 33, 31, 15,
    38, 28, 23, 29, 49, 26, 20, 27, 31, 25, 24, 23, 35, 21, 49, 30, 37, 31, 28, 28, 27, 27, 21, 45, 13, 11, 23, 5, 19,
    15, 11, 16, 14, 17, 15, 12, 14, 16, 9, 20, 32, 21, 15, 16, 15, 13, 27, 14, 17, 14, 15, 21, 17, 10, 10, 11, 16, 13,
    12, 13, 15, 16, 20, 15, 13, 19, 17, 20, 19, 18, 15, 20, 15, 23, 21, 13, 10, 14, 11, 15, 14, 23, 17, 12, 17, 14, 9,
    21, 14, 17, 18, 6, 25, 23, 17, 25, 48, 34, 29, 34, 38, 42, 30, 50, 58, 36, 39, 28, 27, 35, 30, 34, 46, 46, 39, 51,
    46, 75, 66, 20, 45, 28, 35, 41, 43, 56, 37, 38, 50, 52, 33, 44, 37, 72, 47, 20, 80, 52, 38, 44, 39, 49, 50, 56,
    62, 42, 54, 59, 35, 35, 32, 31, 37, 43, 48, 47, 38, 71, 56, 53, 51, 25, 36, 54, 47, 71, 53, 59, 41, 42, 57, 50,
    38, 31, 27, 33, 26, 40, 42, 31, 25, 26, 47, 26, 37, 42, 15, 60, 40, 43, 48, 30, 25, 52, 28, 41, 40, 34, 28, 41,
    38, 40, 30, 35, 27, 27, 32, 44, 31, 32, 29, 31, 25, 21, 23, 25, 39, 33, 21, 36, 21, 14, 23, 33, 27, 31, 16, 23,
    21, 13, 20, 40, 13, 27, 33, 34, 31, 13, 40, 58, 24, 24, 17, 18, 18, 21, 18, 16, 24, 15, 18, 33, 21, 14, 24, 21,
    29, 31, 26, 18, 23, 22, 21, 32, 33, 24, 30, 30, 21, 23, 29, 23, 25, 18, 10, 20, 13, 18, 28, 12, 17, 18, 20, 15,
    16, 16, 25, 21, 18, 26, 17, 22, 16, 15, 15, 25, 14, 18, 19, 16, 14, 20, 28, 13, 28, 39, 40, 29, 25, 27, 26, 18,
    17, 20, 25, 25, 22, 19, 14, 21, 22, 18, 10, 29, 24, 21, 21, 13, 14, 25, 20, 29, 22, 11, 14, 17, 17, 13, 21, 11,
    19, 17, 18, 20, 8, 21, 18, 24, 21, 15, 27, 21,
};
constexpr int k_ot_books = 39;

// Entry -> verse maps of both testaments, built once.
struct kjv_layout {
  std::vector<int> first_chapter;  // per book: index of its first chapter in k_kjv_verses
  std::vector<kjv_verse> entries[2];  // per entry; book < 0 for headings
  kjv_layout() {
    int ch = 0, verses = 0;
    for (int b = 0; b < static_cast<int>(std::size(k_kjv_books)); ++b) {
      first_chapter.push_back(ch);
      auto& e = entries[b < k_ot_books ? 0 : 1];
      if (e.empty()) e.assign(2, kjv_verse{-1, 0, 0});  // empty entry, testament heading
      e.push_back({-1, 0, 0});                         // book heading
      for (int c = 1; c <= k_kjv_books[b].chapters; ++c, ++ch) {
        e.push_back({-1, c, 0});  // chapter heading
        for (int v = 1; v <= k_kjv_verses[ch]; ++v, ++verses) e.push_back({b, c, v});
      }
    }
    LMLAB_ASSERT(ch == 1189 && static_cast<std::size_t>(ch) == std::size(k_kjv_verses) && verses == 31102,
                 "KJV versification table: {} chapters, {} verses", ch, verses);
    LMLAB_ASSERT(entries[0].size() == 24115 && entries[1].size() == 8246);
  }
};
const kjv_layout& layout() {
  static const kjv_layout l;
  return l;
}
}  // namespace

// ---- ztext_module ----

ztext_module::ztext_module(const fs::path& dir) : dir_(dir) {
  parts_[0].prefix = "ot";
  parts_[1].prefix = "nt";
  load_part(parts_[0]);
  load_part(parts_[1]);
  LMLAB_CHECK_HINT(!parts_[0].entries.empty() || !parts_[1].entries.empty(),
                   "expected a zText module folder such as …/modules/texts/ztext/engKJV2006eb",
                   "{}: no zText files (ot.bzs/.bzv/.bzz or nt.bzs/.bzv/.bzz)", dir.string());
}

void ztext_module::load_part(part_data& p) {
  const fs::path bzs = dir_ / (p.prefix + ".bzs"), bzv = dir_ / (p.prefix + ".bzv"), bzz = dir_ / (p.prefix + ".bzz");
  std::error_code ec;
  const int present = fs::exists(bzs, ec) + fs::exists(bzv, ec) + fs::exists(bzz, ec);
  if (present == 0) return;
  LMLAB_CHECK_HINT(present == 3, "the module is incomplete; fetch it again", "{}: {} needs all of {}.bzs, {}.bzv, {}.bzz",
                   dir_.string(), p.prefix, p.prefix, p.prefix, p.prefix);
  const auto s = read_binary_file(bzs);
  LMLAB_CHECK_HINT(s.size() % 12 == 0, "the file is truncated or not a zText block index", "{}: size {} is not a multiple of 12",
                   bzs.string(), s.size());
  const auto v = read_binary_file(bzv);
  LMLAB_CHECK_HINT(v.size() % 10 == 0, "the file is truncated or not a zText verse index", "{}: size {} is not a multiple of 10",
                   bzv.string(), v.size());
  p.bzz = read_binary_file(bzz);
  for (std::size_t i = 0; i < s.size(); i += 12) {
    const block b{le32(&s[i]), le32(&s[i + 4]), le32(&s[i + 8])};
    LMLAB_CHECK_HINT(static_cast<std::uint64_t>(b.offset) + b.size <= p.bzz.size(), "the module is corrupt; fetch it again",
                     "{}: block {} (index offset {}) spans bytes [{}, {}) but {} has {} bytes", bzs.string(), i / 12, i,
                     b.offset, static_cast<std::uint64_t>(b.offset) + b.size, bzz.filename().string(), p.bzz.size());
    p.blocks.push_back(b);
  }
  for (std::size_t i = 0; i < v.size(); i += 10) {
    const entry e{le32(&v[i]), le32(&v[i + 4]), le16(&v[i + 8])};
    if (e.size > 0) {
      LMLAB_CHECK_HINT(e.block < p.blocks.size(), "the module is corrupt; fetch it again",
                       "{}: entry {} (offset {}) names block {} but {} has {} blocks", bzv.string(), i / 10, i, e.block,
                       bzs.filename().string(), p.blocks.size());
      LMLAB_CHECK_HINT(static_cast<std::uint64_t>(e.offset) + e.size <= p.blocks[e.block].usize,
                       "the module is corrupt; fetch it again",
                       "{}: entry {} (offset {}) spans [{}, {}) of block {}, which holds {} bytes", bzv.string(), i / 10, i,
                       e.offset, static_cast<std::uint64_t>(e.offset) + e.size, e.block, p.blocks[e.block].usize);
    }
    p.entries.push_back(e);
  }
}

const std::string& ztext_module::block_text(const part_data& p, std::uint32_t b) const {
  auto it = p.cache.find(b);
  if (it != p.cache.end()) return it->second;
  const block& bl = p.blocks[b];
  std::string out(bl.usize, '\0');
  uLongf out_len = bl.usize;
  const int rc = ::uncompress(reinterpret_cast<Bytef*>(out.data()), &out_len, p.bzz.data() + bl.offset, bl.size);
  const fs::path bzz = dir_ / (p.prefix + ".bzz");
  LMLAB_CHECK_HINT(rc == Z_OK, "the module is corrupt; fetch it again", "{}: block {} at offset {} ({} bytes): zlib error {} ({})",
                   bzz.string(), b, bl.offset, bl.size, rc, rc == Z_BUF_ERROR ? "longer than the index says" : zError(rc));
  LMLAB_CHECK_HINT(out_len == bl.usize, "the module is corrupt; fetch it again",
                   "{}: block {} at offset {} inflates to {} bytes, the block index says {}", bzz.string(), b, bl.offset,
                   out_len, bl.usize);
  return p.cache.emplace(b, std::move(out)).first->second;
}

std::string_view ztext_module::raw(testament t, std::size_t index) const {
  const part_data& p = part(t);
  LMLAB_CHECK(index < p.entries.size(), "{}: {} entry {} out of range ({} entries)", dir_.string(), p.prefix, index,
              p.entries.size());
  const entry& e = p.entries[index];
  if (e.size == 0) return {};
  return std::string_view(block_text(p, e.block)).substr(e.offset, e.size);
}

// ---- OSIS ----

std::string osis_to_text(std::string_view osis) {
  std::string out;
  int in_note = 0;
  bool space = false;
  bool after_note = false;  // a note was just dropped: it may have been the only word gap
  // Front matter and glossaries (WEB's preface, its glossary after Rev 22:21) are not book
  // text: dropped whether written as a container <div type="front">...</div> or as milestones
  // <div sID="x" type="front"/> ... <div eID="x"/>.
  std::vector<bool> div_drops;          // open container divs: does each drop its content?
  std::vector<std::string> milestones;  // sIDs of open dropping milestone divs
  auto drops = [](std::string_view attrs) {
    const std::string type = markup_attribute(attrs, "type");
    return type == "front" || type == "glossary";
  };
  auto dropping = [&] {
    return !milestones.empty() || std::find(div_drops.begin(), div_drops.end(), true) != div_drops.end();
  };
  auto is_break = [](std::string_view n) {
    for (std::string_view b : {"l", "lb", "lg", "title", "div", "p", "chapter", "verse", "milestone", "item", "list"})
      if (n == b) return true;
    return false;
  };
  scan_markup(osis, [&](const markup_token& t) {
    using k = markup_token::kind;
    switch (t.type) {
      case k::open:
        if (t.name == "note") ++in_note;
        else if (is_break(t.name)) space = true;
        if (t.name == "div") div_drops.push_back(drops(t.attrs));
        break;
      case k::close:
        if (t.name == "note") {
          in_note = std::max(0, in_note - 1);
          after_note = in_note == 0;
        } else if (is_break(t.name)) space = true;
        if (t.name == "div" && !div_drops.empty()) div_drops.pop_back();
        break;
      case k::self_closing:
        if (is_break(t.name)) space = true;
        if (t.name == "div") {
          bool has_sid = false, has_eid = false;
          const std::string sid = markup_attribute(t.attrs, "sID", &has_sid);
          const std::string eid = markup_attribute(t.attrs, "eID", &has_eid);
          if (has_sid && drops(t.attrs)) milestones.push_back(sid);
          if (has_eid) std::erase(milestones, eid);
        }
        break;
      case k::other:
        break;
      case k::text: {
        if (in_note || dropping()) break;
        for (char c : decode_entities(t.text)) {
          if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = true;
          } else {
            // "God<note>...</note>created": the note stood between two words.
            const auto word = [](char x) { return std::isalnum(static_cast<unsigned char>(x)) || (x & 0x80); };
            if (after_note && !out.empty() && word(out.back()) && word(c)) space = true;
            after_note = false;
            if (space && !out.empty()) out += ' ';
            space = false;
            out += c;
          }
        }
        break;
      }
    }
  });
  return out;
}

// ---- KJV versification ----

const std::vector<std::string>& kjv_book_ids() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> v;
    for (const auto& b : k_kjv_books) v.emplace_back(b.osis);
    return v;
  }();
  return ids;
}

int kjv_chapters(int book) {
  LMLAB_CHECK(book >= 0 && book < static_cast<int>(std::size(k_kjv_books)), "kjv: book index {} out of range [0, 66)", book);
  return k_kjv_books[book].chapters;
}

int kjv_verses(int book, int chapter) {
  LMLAB_CHECK(chapter >= 1 && chapter <= kjv_chapters(book), "kjv: {} has no chapter {}", k_kjv_books[book].osis, chapter);
  return k_kjv_verses[layout().first_chapter[static_cast<std::size_t>(book)] + chapter - 1];
}

std::size_t kjv_entries(testament t) { return layout().entries[static_cast<int>(t)].size(); }

bool kjv_entry_verse(testament t, std::size_t index, kjv_verse& out) {
  const auto& e = layout().entries[static_cast<int>(t)];
  if (index >= e.size() || e[index].book < 0) return false;
  out = e[index];
  return true;
}

std::string kjv_ref(const kjv_verse& v) { return fmt::format("{}.{}.{}", kjv_book_ids().at(static_cast<std::size_t>(v.book)), v.chapter, v.verse); }

// ---- documents and verses ----

std::vector<document> read_sword_books(const ztext_module& m) {
  std::vector<document> docs;
  for (testament t : {testament::old_testament, testament::new_testament}) {
    const char* group = t == testament::old_testament ? "ot" : "nt";
    bool paragraph = false;  // a chapter heading was seen: the next line starts a paragraph
    for (std::size_t i = 0; i < m.entries(t); ++i) {
      const std::string_view raw = m.raw(t, i);
      bool book_start = false, chapter_start = false;
      std::string book_id;
      scan_markup(raw, [&](const markup_token& tok) {
        if (tok.type != markup_token::kind::open && tok.type != markup_token::kind::self_closing) return;
        bool has_sid = false;
        markup_attribute(tok.attrs, "sID", &has_sid);
        if (!has_sid) return;
        if (tok.name == "div" && markup_attribute(tok.attrs, "type") == "book" && !book_start) {
          book_start = true;
          book_id = markup_attribute(tok.attrs, "osisID");
        } else if (tok.name == "chapter") {
          chapter_start = true;
        }
      });
      if (book_start) {
        LMLAB_CHECK(!book_id.empty(), "{}: {} entry {} starts a book without an osisID", m.dir().string(),
                    group, i);
        docs.push_back({book_id, group, ""});
        paragraph = false;
      }
      if (docs.empty() || (docs.back().group != group && !book_start)) continue;  // module heading
      if (chapter_start) paragraph = true;
      const std::string text = osis_to_text(raw);
      if (text.empty()) continue;
      std::string& out = docs.back().text;
      if (!out.empty()) out += paragraph ? "\n\n" : "\n";
      out += text;
      paragraph = false;
    }
  }
  LMLAB_CHECK_HINT(!docs.empty(), "expected OSIS markup with <div type=\"book\" sID=...> book markers",
                   "{}: no book markers in any entry", m.dir().string());
  for (const auto& d : docs) LMLAB_CHECK(utf8_valid(d.text), "{}: book {} is not valid UTF-8", m.dir().string(), d.name);
  return docs;
}

std::vector<document> read_sword_books(const fs::path& module_dir) { return read_sword_books(ztext_module(module_dir)); }

std::vector<verse_text> read_kjv_verses(const ztext_module& m) {
  for (testament t : {testament::old_testament, testament::new_testament})
    LMLAB_CHECK_HINT(m.entries(t) == kjv_entries(t), "verse alignment needs modules with Versification=KJV",
                     "{}: {} has {} entries, the KJV layout has {}", m.dir().string(),
                     t == testament::old_testament ? "ot.bzv" : "nt.bzv", m.entries(t), kjv_entries(t));
  std::vector<verse_text> out;
  out.reserve(31102);
  for (testament t : {testament::old_testament, testament::new_testament}) {
    kjv_verse v;
    for (std::size_t i = 0; i < m.entries(t); ++i)
      if (kjv_entry_verse(t, i, v)) out.push_back({kjv_ref(v), osis_to_text(m.raw(t, i))});
  }
  return out;
}

std::vector<verse_pair> align_verses(const ztext_module& a, const ztext_module& b) {
  const auto va = read_kjv_verses(a);
  const auto vb = read_kjv_verses(b);
  LMLAB_ASSERT(va.size() == vb.size());
  std::vector<verse_pair> out;
  for (std::size_t i = 0; i < va.size(); ++i)
    if (!va[i].text.empty() && !vb[i].text.empty()) out.push_back({va[i].ref, va[i].text, vb[i].text});
  return out;
}

std::vector<verse_pair> load_verse_pairs(const std::string& source_a, const std::string& source_b, bool allow_fetch) {
  const source* s[2] = {&find_source(source_a), &find_source(source_b)};
  for (const source* x : s) {
    if (!is_fetched(*x)) {
      LMLAB_CHECK_HINT(allow_fetch, "run `lmlab data fetch " + x->name + "`", "data: source \"{}\" is not in the cache ({})",
                       x->name, source_dir(*x).string());
      fetch(*x);
    }
  }
  return align_verses(ztext_module(source_dir(*s[0])), ztext_module(source_dir(*s[1])));
}

}  // namespace lmlab::data

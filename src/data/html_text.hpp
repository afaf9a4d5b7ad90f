// Markup to plain text: a small tolerant tag scanner shared by the HTML reader (LibreOffice
// help pages) and the OSIS reader (SWORD Bible modules, sword.hpp), entity decoding, and the
// LibreOffice help corpus reader (documents keyed by their path, so two languages align).
// Not for: validating or rendering HTML (no DOM, no CSS; unknown constructs pass through as
// text), or fetching (corpus.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "data/readers.hpp"

namespace lmlab::data {

// One piece of a markup document; views point into the scanned string. Tag names are as
// written (html_to_text compares them case-insensitively).
struct markup_token {
  enum class kind { text, open, close, self_closing, other };  // other: comment, doctype, <?...?>
  kind type = kind::text;
  std::string_view name;   // tag name (open / close / self_closing)
  std::string_view attrs;  // raw attribute text of an open or self-closing tag
  std::string_view text;   // raw (undecoded) text, or the whole construct for `other`
  std::size_t offset = 0;  // byte offset of the token in the input
};

// Calls `f` for every token in order. Never throws on malformed input: a '<' that does not
// start a tag is text, an unterminated tag or comment runs to the end as `other`.
void scan_markup(std::string_view s, const std::function<void(const markup_token&)>& f);

// Value of attribute `name` (case-insensitive) in a tag's attribute text, entities decoded;
// `found` tells a missing attribute from an empty one. Accepts "..", '..' and bare values.
std::string markup_attribute(std::string_view attrs, std::string_view name, bool* found = nullptr);

// Decodes &amp; &lt; &gt; &quot; &apos; &nbsp; (U+00A0) and a few common named entities, and
// numeric references &#NNN; / &#xHH; to UTF-8. Anything else (unknown name, missing ';',
// invalid code point) is kept as written.
std::string decode_entities(std::string_view s);

struct html_options {
  // Keep only the content of the element with this id (the whole document when it is empty or
  // no element has it).
  std::string root_id;
  // Elements with a `hidden` attribute are dropped with their content, except, when this is
  // set, those without a class attribute. LibreOffice help writes system- and module-specific
  // alternatives as hidden spans with class MAC, WIN, WRITER, ... and the default one as a
  // hidden span without a class (a script shows one); keeping the default gives one reading.
  bool keep_unclassed_hidden = false;
};

// HTML -> text. Dropped with their content: head, script, style, noscript, template, and hidden
// elements (see html_options). Block
// elements (p, div, h1-h6, li, tr, br, pre, ...) end a line; table cells are separated by a
// space; runs of whitespace collapse to one space except inside <pre>; lines are trimmed and
// empty lines dropped, so paragraphs are separated by a single "\n".
std::string html_to_text(std::string_view html, const html_options& options = {});

// Number of precomposed Hangul syllables (U+AC00..U+D7A3) in UTF-8 text.
std::int64_t count_hangul_syllables(std::string_view utf8);

// A LibreOffice help tree (…/help/<lang>, e.g. usr/share/libreoffice/help/ko): every
// text/**/*.html page, in path order, one document each named by its path relative to `dir`
// (text/swriter/guide/words_count.html), group = the module folder (swriter); text is the
// page's "DisplayArea" element through html_to_text with keep_unclassed_hidden. Pages whose text is empty are skipped.
// Errors name the folder when it holds no page, and the file when a page is not UTF-8.
std::vector<document> read_libreoffice_help(const std::filesystem::path& dir);

// Documents of `a` and `b` paired by name (e.g. the same help page in two languages), in the
// order of `a`; names found on one side only are left out.
struct document_pair {
  std::string name;
  std::string a, b;
};
std::vector<document_pair> align_by_name(const std::vector<document>& a, const std::vector<document>& b);

}  // namespace lmlab::data

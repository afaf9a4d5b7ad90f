// Markup scanning, entity decoding, HTML to text (root element, dropped and hidden elements,
// blocks, <pre>, tables), Hangul counting and the LibreOffice help reader on a fixture tree.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/html_text.hpp"

#include "../error_of.hpp"
#include "../temp_path.hpp"

namespace d = lmlab::data;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& name) { return lmlab::testing::temp_path("html", name); }
using lmlab::testing::error_of;
std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html><head><title>" + title + "</title><script>var x = '<p>';</script></head>\n<body>" +
         "<header>LibreOffice 7.4 Help</header><div id=\"DisplayArea\">" + body + "</div><footer>debug</footer></body></html>";
}
}  // namespace

TEST(html, scanner_tokens_and_attributes) {
  std::vector<std::string> seen;
  d::scan_markup("a<b x='1>2'/>c</B><!-- <p> -->d < e<br", [&](const d::markup_token& t) {
    using k = d::markup_token::kind;
    const char* kind = t.type == k::text ? "T" : t.type == k::open ? "O" : t.type == k::close ? "C" : t.type == k::self_closing ? "S" : "X";
    seen.push_back(std::string(kind) + ":" + std::string(t.type == k::text || t.type == k::other ? t.text : t.name) + "@" +
                   std::to_string(t.offset));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"T:a@0", "S:b@1", "T:c@13", "C:B@14", "X:<!-- <p> -->@18", "T:d < e@30", "X:<br@35"}));
  bool found = false;
  EXPECT_EQ(d::markup_attribute(" id=\"x&amp;y\" hidden class=z", "ID", &found), "x&y");
  EXPECT_TRUE(found);
  EXPECT_EQ(d::markup_attribute(" id=\"x\" hidden class=z", "hidden", &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(d::markup_attribute(" id=\"x\" hidden class=z", "class"), "z");
  EXPECT_EQ(d::markup_attribute(" id=\"x\"", "lang", &found), "");
  EXPECT_FALSE(found);
}

TEST(html, entities) {
  EXPECT_EQ(d::decode_entities("&amp;&lt;&gt;&quot;&apos;&#65;&#x4E2D;&nbsp;|&bogus; &amp &#xD800; &#0;"),
            "&<>\"'A\xe4\xb8\xad\xc2\xa0|&bogus; &amp &#xD800; &#0;");
}

TEST(html, to_text_keeps_root_drops_hidden_and_breaks_blocks) {
  const std::string html = page("Title",
                                "<h1>Word  count</h1>\n<p>Choose <span class=\"switchinline\"><span hidden=\"true\" class=\"MAC\">"
                                "Preferences</span><span hidden=\"true\">Tools - Options</span></span> &amp; go.</p>"
                                "<ul><li>one</li><li>two<br>three</li></ul><table><tr><td>a</td><td>b</td></tr></table>"
                                "<pre>  x = 1\n  y = 2</pre></i><p>end</p>");
  EXPECT_EQ(d::html_to_text(html, {.root_id = "DisplayArea", .keep_unclassed_hidden = true}),
            "Word count\nChoose Tools - Options & go.\none\ntwo\nthree\na b\n  x = 1\n  y = 2\nend");
  EXPECT_EQ(d::html_to_text(html, {.root_id = "DisplayArea"}), "Word count\nChoose & go.\none\ntwo\nthree\na b\n  x = 1\n  y = 2\nend");
  // No such root: the whole document, minus head and script.
  EXPECT_EQ(d::html_to_text("<html><head><title>T</title></head><body><p>x</p><style>p{}</style>y</body></html>",
                            {.root_id = "nope"}),
            "x\ny");
}

TEST(html, hangul_count) {
  EXPECT_EQ(d::count_hangul_syllables("\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 text \xea\xb0\x80"), 4);  // 한국어 text 가
  EXPECT_EQ(d::count_hangul_syllables("\xe3\x84\xb1 abc"), 0);  // a jamo (U+3131) is not a syllable
}

TEST(html, libreoffice_help_tree_and_alignment) {
  const auto ko = tmp("help/ko"), en = tmp("help/en-US");
  lmlab::write_file_atomic(ko / "text/swriter/guide/words_count.html",
                           page("\xeb\x8b\xa8\xec\x96\xb4", "<h1>\xeb\x8b\xa8\xec\x96\xb4 \xec\x84\xb8\xea\xb8\xb0</h1>"));
  lmlab::write_file_atomic(ko / "text/shared/01/empty.html", page("x", "<p> </p>"));
  lmlab::write_file_atomic(ko / "noscript.html", std::string_view("<p>not a help page</p>"));
  lmlab::write_file_atomic(en / "text/swriter/guide/words_count.html", page("Count", "<h1>Counting Words</h1>"));
  lmlab::write_file_atomic(en / "text/scalc/01/only_en.html", page("x", "<p>English only</p>"));
  const auto k = d::read_libreoffice_help(ko), e = d::read_libreoffice_help(en);
  ASSERT_EQ(k.size(), 1u);  // the empty page is skipped
  EXPECT_EQ(k[0].name, "text/swriter/guide/words_count.html");
  EXPECT_EQ(k[0].group, "swriter");
  EXPECT_EQ(k[0].text, "\xeb\x8b\xa8\xec\x96\xb4 \xec\x84\xb8\xea\xb8\xb0");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "text/scalc/01/only_en.html");
  const auto pairs = d::align_by_name(e, k);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].a, "Counting Words");
  EXPECT_EQ(pairs[0].b, k[0].text);
  lmlab::write_file_atomic(ko / "text/bad.html", std::string_view("<p>\xff</p>"));
  EXPECT_EQ(error_of([&] { d::read_libreoffice_help(ko); }), (ko / "text/bad.html").string() + ": not valid UTF-8");
  EXPECT_EQ(error_of([&] { d::read_libreoffice_help(tmp("help")); }), tmp("help").string() + ": no text/ folder of help pages");
}

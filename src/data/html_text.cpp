// Markup to plain text and the LibreOffice help reader: see html_text.hpp.
#include "data/html_text.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {
namespace fs = std::filesystem;

namespace {
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
}
template <std::size_t N>
bool in_list(std::string_view name, const std::string_view (&list)[N]) {
  return std::any_of(std::begin(list), std::end(list), [&](std::string_view x) { return iequals(name, x); });
}
}  // namespace

void scan_markup(std::string_view s, const std::function<void(const markup_token&)>& f) {
  std::size_t i = 0, text_start = 0;
  auto flush_text = [&](std::size_t end) {
    if (end > text_start) f({markup_token::kind::text, {}, {}, s.substr(text_start, end - text_start), text_start});
  };
  while (i < s.size()) {
    if (s[i] != '<') {
      ++i;
      continue;
    }
    const std::size_t lt = i;
    // Comments, doctype, processing instructions, CDATA: one `other` token each.
    if (s.compare(lt, 4, "<!--") == 0 || s.compare(lt, 2, "<!") == 0 || s.compare(lt, 2, "<?") == 0) {
      std::size_t end;
      if (s.compare(lt, 4, "<!--") == 0) {
        end = s.find("-->", lt + 4);
        end = end == std::string_view::npos ? s.size() : end + 3;
      } else if (s.compare(lt, 9, "<![CDATA[") == 0) {
        end = s.find("]]>", lt + 9);
        end = end == std::string_view::npos ? s.size() : end + 3;
      } else {
        end = s.find('>', lt + 2);
        end = end == std::string_view::npos ? s.size() : end + 1;
      }
      flush_text(lt);
      f({markup_token::kind::other, {}, {}, s.substr(lt, end - lt), lt});
      i = text_start = end;
      continue;
    }
    const bool closing = lt + 1 < s.size() && s[lt + 1] == '/';
    std::size_t n = lt + (closing ? 2 : 1);
    const std::size_t name_start = n;
    if (n >= s.size() || !std::isalpha(static_cast<unsigned char>(s[n]))) {  // "a < b": plain text
      ++i;
      continue;
    }
    while (n < s.size() && is_name_char(s[n])) ++n;
    const std::string_view name = s.substr(name_start, n - name_start);
    // Find the closing '>' outside quoted attribute values.
    std::size_t j = n;
    char quote = 0;
    while (j < s.size()) {
      const char c = s[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
      ++j;
    }
    flush_text(lt);
    if (j >= s.size()) {  // unterminated tag
      f({markup_token::kind::other, {}, {}, s.substr(lt), lt});
      i = text_start = s.size();
      break;
    }
    std::string_view attrs = s.substr(n, j - n);
    markup_token t{closing ? markup_token::kind::close : markup_token::kind::open, name, {}, s.substr(lt, j + 1 - lt), lt};
    if (!closing) {
      while (!attrs.empty() && is_space(attrs.back())) attrs.remove_suffix(1);
      if (!attrs.empty() && attrs.back() == '/') {
        t.type = markup_token::kind::self_closing;
        attrs.remove_suffix(1);
      }
      t.attrs = attrs;
    }
    f(t);
    i = text_start = j + 1;
  }
  flush_text(s.size());
}

std::string markup_attribute(std::string_view attrs, std::string_view name, bool* found) {
  if (found) *found = false;
  std::size_t i = 0;
  while (i < attrs.size()) {
    while (i < attrs.size() && (is_space(attrs[i]) || attrs[i] == '/')) ++i;
    const std::size_t ns = i;
    while (i < attrs.size() && !is_space(attrs[i]) && attrs[i] != '=' && attrs[i] != '/') ++i;
    const std::string_view key = attrs.substr(ns, i - ns);
    if (key.empty()) break;
    while (i < attrs.size() && is_space(attrs[i])) ++i;
    std::string_view value;
    if (i < attrs.size() && attrs[i] == '=') {
      ++i;
      while (i < attrs.size() && is_space(attrs[i])) ++i;
      if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
        const char q = attrs[i++];
        const std::size_t vs = i;
        while (i < attrs.size() && attrs[i] != q) ++i;
        value = attrs.substr(vs, i - vs);
        if (i < attrs.size()) ++i;
      } else {
        const std::size_t vs = i;
        while (i < attrs.size() && !is_space(attrs[i])) ++i;
        value = attrs.substr(vs, i - vs);
      }
    }
    if (iequals(key, name)) {
      if (found) *found = true;
      return decode_entities(value);
    }
  }
  return {};
}

std::string decode_entities(std::string_view s) {
  struct named {
    std::string_view name;
    std::uint32_t cp;
  };
  static constexpr named k_named[] = {
      {"amp", '&'},     {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},    {"nbsp", 0xA0},
      {"copy", 0xA9},   {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
      {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"bull", 0x2022},  {"middot", 0xB7},
      {"times", 0xD7},  {"deg", 0xB0},     {"laquo", 0xAB},   {"raquo", 0xBB},   {"shy", 0xAD},     {"euro", 0x20AC},
  };
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    const std::size_t semi = s.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) {
      out += s[i++];
      continue;
    }
    const std::string_view body = s.substr(i + 1, semi - i - 1);
    std::int64_t cp = -1;
    if (body.size() >= 2 && body[0] == '#') {
      const bool hex = body[1] == 'x' || body[1] == 'X';
      const std::string_view digits = body.substr(hex ? 2 : 1);
      std::int64_t v = 0;
      bool ok = !digits.empty();
      for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else { ok = false; break; }
        v = v * (hex ? 16 : 10) + d;
        if (v > 0x10FFFF) { ok = false; break; }
      }
      if (ok && v > 0 && !(v >= 0xD800 && v <= 0xDFFF)) cp = v;
    } else {
      for (const auto& e : k_named)
        if (e.name == body) cp = e.cp;
    }
    if (cp < 0) {
      out += s[i++];
      continue;
    }
    utf8_append(out, static_cast<std::uint32_t>(cp));
    i = semi + 1;
  }
  return out;
}

// Long (~90 lines) on purpose: one state machine over the token stream (the open-element
// stack, the dropped and root depths, the line being built) that every branch updates.
std::string html_to_text(std::string_view html, const html_options& options) {
  const std::string_view root_id = options.root_id;
  // Is there an element with id == root_id at all? If not, the whole document counts.
  bool root_exists = false;
  if (!root_id.empty())
    scan_markup(html, [&](const markup_token& t) {
      if (!root_exists && (t.type == markup_token::kind::open || t.type == markup_token::kind::self_closing))
        root_exists = markup_attribute(t.attrs, "id") == root_id;
    });
  static constexpr std::string_view k_void[] = {
      "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"};
  static constexpr std::string_view k_dropped[] = {"head", "script", "style", "noscript", "template"};
  static constexpr std::string_view k_block[] = {
      "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "figcaption", "figure",
      "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
      "section", "table", "tbody", "thead", "tfoot", "tr", "ul"};
  std::vector<std::string_view> stack;   // open non-void elements
  std::size_t drop_at = SIZE_MAX;        // stack depth at which a dropped element opened
  std::size_t root_at = root_exists ? SIZE_MAX : 0;  // depth of the root element (0: everything)
  int pre = 0;
  std::string out, line;
  bool pending_space = false;
  auto end_line = [&] {
    while (!line.empty() && is_space(line.back())) line.pop_back();
    std::size_t b = 0;
    while (pre == 0 && b < line.size() && is_space(line[b])) ++b;  // <pre> keeps its indentation
    if (b < line.size()) {
      if (!out.empty()) out += '\n';
      out.append(line, b);
    }
    line.clear();
    pending_space = false;
  };
  auto emitting = [&] { return drop_at == SIZE_MAX && root_at != SIZE_MAX; };
  scan_markup(html, [&](const markup_token& t) {
    using k = markup_token::kind;
    if (t.type == k::text) {
      if (!emitting()) return;
      const std::string text = decode_entities(t.text);
      if (pre > 0) {
        for (char c : text) {
          if (c == '\n') end_line();
          else line += c;
        }
        return;
      }
      for (char c : text) {
        if (is_space(c)) {
          pending_space = true;
        } else {
          if (pending_space && !line.empty()) line += ' ';
          pending_space = false;
          line += c;
        }
      }
      return;
    }
    if (t.type == k::other) return;
    const bool is_void = in_list(t.name, k_void) || t.type == k::self_closing;
    if (t.type == k::open || t.type == k::self_closing) {
      bool hidden = false, has_class = false;
      markup_attribute(t.attrs, "hidden", &hidden);
      if (hidden && options.keep_unclassed_hidden) {
        markup_attribute(t.attrs, "class", &has_class);
        hidden = has_class;
      }
      const bool drop = hidden || in_list(t.name, k_dropped);
      if (emitting() && in_list(t.name, k_block)) end_line();
      if (emitting() && (iequals(t.name, "td") || iequals(t.name, "th"))) pending_space = true;
      if (is_void) return;
      stack.push_back(t.name);
      if (drop && drop_at == SIZE_MAX) drop_at = stack.size();
      if (root_at == SIZE_MAX && !root_id.empty() && markup_attribute(t.attrs, "id") == root_id) root_at = stack.size();
      if (iequals(t.name, "pre") && emitting()) ++pre;
      return;
    }
    // Close tag: pop to the matching open element; a stray close tag is ignored.
    auto it = std::find_if(stack.rbegin(), stack.rend(), [&](std::string_view n) { return iequals(n, t.name); });
    if (it == stack.rend()) return;
    const std::size_t depth = static_cast<std::size_t>(stack.rend() - it);  // 1-based depth of the match
    if (emitting() && (in_list(t.name, k_block))) end_line();
    if (emitting() && (iequals(t.name, "td") || iequals(t.name, "th"))) pending_space = true;
    if (iequals(t.name, "pre") && pre > 0 && emitting()) --pre;
    stack.resize(depth - 1);
    if (drop_at != SIZE_MAX && stack.size() < drop_at) drop_at = SIZE_MAX;
    if (root_at != SIZE_MAX && root_at != 0 && stack.size() < root_at) {
      end_line();
      root_at = SIZE_MAX;  // past the root: nothing more is kept
    }
  });
  end_line();
  return out;
}

std::int64_t count_hangul_syllables(std::string_view s) {
  std::int64_t n = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    int len = 1;
    const std::int32_t cp = utf8_decode(s, i, len);
    if (cp >= 0xAC00 && cp <= 0xD7A3) ++n;
    i += static_cast<std::size_t>(len);
  }
  return n;
}

std::vector<document> read_libreoffice_help(const fs::path& dir) {
  const fs::path text_dir = dir / "text";
  LMLAB_CHECK_HINT(fs::is_directory(text_dir), "expected …/usr/share/libreoffice/help/<lang> from a libreoffice-help-* package",
                   "{}: no text/ folder of help pages", dir.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(text_dir))
    if (e.is_regular_file() && e.path().extension() == ".html") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  LMLAB_CHECK(!files.empty(), "{}: no .html help pages under text/", dir.string());
  std::vector<document> docs;
  for (const auto& f : files) {
    const std::string html = read_text_file(f);
    LMLAB_CHECK(utf8_valid(html), "{}: not valid UTF-8", f.string());
    std::string text = html_to_text(html, {.root_id = "DisplayArea", .keep_unclassed_hidden = true});
    if (text.empty()) continue;
    const fs::path rel = fs::relative(f, dir);
    auto part = rel.begin();
    ++part;  // "text"
    docs.push_back({rel.generic_string(), part != rel.end() ? part->string() : std::string(), std::move(text)});
  }
  return docs;
}

std::vector<document_pair> align_by_name(const std::vector<document>& a, const std::vector<document>& b) {
  std::vector<const document*> sorted_b;
  for (const auto& d : b) sorted_b.push_back(&d);
  std::sort(sorted_b.begin(), sorted_b.end(), [](const document* x, const document* y) { return x->name < y->name; });
  std::vector<document_pair> out;
  for (const auto& d : a) {
    auto it = std::lower_bound(sorted_b.begin(), sorted_b.end(), d.name,
                               [](const document* x, const std::string& n) { return x->name < n; });
    if (it != sorted_b.end() && (*it)->name == d.name) out.push_back({d.name, d.text, (*it)->text});
  }
  return out;
}

}  // namespace lmlab::data

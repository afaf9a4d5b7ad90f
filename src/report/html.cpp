// index.html: the page layout (typography, answer boxes, figures, tables) and the small script
// that renders every figure with vega-embed and then records the outcome on <body>:
//   data-figures="N"  data-rendered="K"  data-errors="E"  data-warnings="W"
// (set once all vega-embed promises settle), which the headless-Chromium test reads.
#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "report/report.hpp"

namespace lmlab::report {

namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON placed inside <script>: '<' only occurs inside strings, where \u003c is the same
// character, so "</script>" in a title cannot end the element.
std::string script_safe_json(const nlohmann::json& j) {
  const std::string s = j.dump();
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

constexpr std::string_view kCss = R"css(
:root { --ink: #1d2127; --muted: #5b6470; --rule: #e3e6ea; --accent: #1f5fbf; --answer-bg: #eef4fd; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial,
    "NanumGothic", "Noto Sans CJK KR", "Apple SD Gothic Neo", "Malgun Gothic", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 40px 32px 80px; }
header.report h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
header.report .subtitle { color: var(--muted); font-size: 1.05rem; margin: 0 0 14px; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0;
  font-size: 0.82rem; color: var(--muted); }
dl.provenance dt { font-weight: 600; } dl.provenance dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
nav.toc { margin: 24px 0 8px; padding: 12px 18px; border: 1px solid var(--rule); border-radius: 8px; font-size: 0.95rem; }
nav.toc ol { margin: 4px 0 0; padding-left: 22px; } nav.toc a { color: var(--accent); text-decoration: none; }
section.experiment { border-top: 1px solid var(--rule); margin-top: 40px; padding-top: 28px; }
section.experiment h2 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 12px; }
.question { margin: 0 0 10px; } .question .label, .answer .label { font-weight: 700; }
blockquote.notes { margin: 8px 0 16px; padding: 6px 16px; border-left: 3px solid #c3c9d1; color: #3b424c; font-style: italic; }
blockquote.notes cite { display: block; margin-top: 4px; font-style: normal; font-size: 0.85rem; color: var(--muted); }
.answer { margin: 18px 0 22px; padding: 14px 18px; background: var(--answer-bg); border-left: 5px solid var(--accent);
  border-radius: 0 8px 8px 0; font-size: 1.2rem; line-height: 1.45; font-weight: 600; }
.answer .label { display: block; font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.08em; color: var(--accent); margin-bottom: 2px; }
.comparison { color: #3b424c; margin: 0 0 18px; }
figure.figure { margin: 22px 0 30px; }
figure.figure .figure-title { font-weight: 650; font-size: 1.02rem; margin-bottom: 6px; }
.vis { min-height: 60px; overflow-x: auto; }
.vis[data-status="error"] { color: #a11; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85rem;
  padding: 10px; border: 1px solid #e9b4b4; border-radius: 6px; background: #fdf3f3; }
figure.figure figcaption { font-size: 0.88rem; color: var(--muted); margin-top: 4px; }
a.data { color: var(--accent); font-size: 0.85rem; }
.table-wrap { overflow-x: auto; margin: 16px 0 26px; }
.table-wrap .table-title { font-weight: 650; margin-bottom: 6px; }
table.data { border-collapse: collapse; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 4px 12px; border-bottom: 1px solid var(--rule); text-align: left;
  vertical-align: top; min-width: 5em; max-width: 24em; overflow-wrap: anywhere; }
table.data th { border-bottom: 2px solid #c9ced5; font-weight: 650; }
table.data td.num { text-align: right; }
footer { margin-top: 56px; font-size: 0.8rem; color: var(--muted); border-top: 1px solid var(--rule); padding-top: 12px; }
)css";

constexpr std::string_view kScript = R"js(
(function () {
  var warnings = [];
  var origWarn = console.warn;
  console.warn = function () { warnings.push(Array.prototype.join.call(arguments, ' ')); origWarn.apply(console, arguments); };
  // Whether Korean text (the notes' quotes) gets real glyphs: "한국어" in the page's font must not
  // measure the same as three private-use characters, which no font has (.notdef boxes).
  function width(text) {
    var s = document.createElement('span');
    s.style.whiteSpace = 'pre';
    s.style.position = 'absolute';
    s.textContent = text;
    document.body.appendChild(s);
    var w = s.getBoundingClientRect().width;
    s.remove();
    return w;
  }
  document.body.setAttribute('data-hangul-width', String(width('\ud55c\uad6d\uc5b4')));
  document.body.setAttribute('data-missing-glyph-width', String(width('\ue000\ue001\ue002')));
  var figs = JSON.parse(document.getElementById('lmlab-figures').textContent);
  function done(ok, failed) {
    var b = document.body;
    b.setAttribute('data-figures', String(figs.length));
    b.setAttribute('data-rendered', String(ok));
    b.setAttribute('data-errors', String(failed));
    b.setAttribute('data-warnings', String(warnings.length));
    if (warnings.length) b.setAttribute('data-warning-text', warnings.join(' | ').slice(0, 2000));
  }
  function fail(el, msg) {
    el.setAttribute('data-status', 'error');
    el.setAttribute('data-error', msg);
    el.textContent = 'This figure failed to render: ' + msg;
  }
  var els = figs.map(function (f) { return document.querySelector('.vis[data-fig="' + f.id + '"]'); });
  if (typeof vegaEmbed !== 'function') {
    els.forEach(function (el) { fail(el, 'the chart library did not load (assets/vega.min.js, vega-lite.min.js, vega-embed.min.js)'); });
    done(0, figs.length);
    return;
  }
  Promise.all(figs.map(function (f, i) {
    return vegaEmbed(els[i], f.spec, { renderer: 'svg', actions: false }).then(
      function () { els[i].setAttribute('data-status', 'ok'); return true; },
      function (e) { fail(els[i], String(e && e.message || e)); return false; });
  })).then(function (r) {
    var ok = r.filter(function (x) { return x; }).length;
    done(ok, r.length - ok);
  });
})();
)js";

void render_table(std::string& h, const report_table& t) {
  h += fmt::format("<div class=\"table-wrap\" id=\"table-{}\">\n", esc(t.id));
  if (!t.title.empty()) h += fmt::format("<div class=\"table-title\">{}</div>\n", esc(t.title));
  h += "<table class=\"data\"><thead><tr>";
  for (const auto& c : t.data.columns()) h += "<th>" + esc(c) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (const auto& r : t.data.rows()) {
    h += "<tr>";
    for (std::size_t i = 0; i < r.size(); ++i) {
      const auto& c = r[i];
      h += c.number ? "<td class=\"num\">" : "<td>";
      if (t.data.columns()[i] == t.link_column) {
        std::size_t from = 0;
        for (std::size_t to; from < c.text.size(); from = to + 1) {  // space-separated section ids
          to = std::min(c.text.find(' ', from), c.text.size());
          const std::string id = c.text.substr(from, to - from);
          h += fmt::format("{}<a href=\"#{}\">{}</a>", from == 0 ? "" : " ", esc(id), esc(id));
        }
      } else {
        h += esc(c.text);
      }
      h += "</td>";
    }
    h += "</tr>\n";
  }
  h += fmt::format("</tbody></table>\n<a class=\"data\" href=\"table-{0}.csv\">table-{0}.csv</a>\n</div>\n", esc(t.id));
}

}  // namespace

std::string render_index_html(const document& doc) {
  std::string h;
  h.reserve(1 << 16);
  h += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<meta name=\"generator\" content=\"lmlab report\">\n";
  h += fmt::format("<title>{}</title>\n<style>{}</style>\n", esc(doc.title), kCss);
  for (const auto& a : bundled_assets()) h += fmt::format("<script src=\"assets/{}\"></script>\n", a.file);
  h += "</head>\n<body>\n<main>\n<header class=\"report\">\n";
  h += fmt::format("<h1>{}</h1>\n", esc(doc.title));
  if (!doc.subtitle.empty()) h += fmt::format("<p class=\"subtitle\">{}</p>\n", esc(doc.subtitle));
  if (!doc.provenance.empty()) {
    h += "<dl class=\"provenance\">\n";
    for (const auto& [k, v] : doc.provenance) h += fmt::format("<dt>{}</dt><dd>{}</dd>\n", esc(k), esc(v));
    h += "</dl>\n";
  }
  h += "</header>\n";
  if (doc.sections.size() > 1) {
    h += "<nav class=\"toc\"><strong>Contents</strong><ol>\n";
    for (const auto& s : doc.sections) h += fmt::format("<li><a href=\"#{}\">{}</a></li>\n", esc(s.id), esc(s.title));
    h += "</ol></nav>\n";
  }
  nlohmann::json figs = nlohmann::json::array();
  for (const auto& s : doc.sections) {
    h += fmt::format("<section class=\"experiment\" id=\"{}\">\n<h2>{}</h2>\n", esc(s.id), esc(s.title));
    if (!s.question.empty())
      h += fmt::format("<p class=\"question\"><span class=\"label\">Question.</span> {}</p>\n", esc(s.question));
    if (!s.quote.empty()) {
      h += fmt::format("<blockquote class=\"notes\">{}", esc(s.quote));
      if (!s.quote_source.empty()) h += fmt::format("<cite>— {}</cite>", esc(s.quote_source));
      h += "</blockquote>\n";
    }
    h += fmt::format("<p class=\"answer\"><span class=\"label\">Answer</span>{}</p>\n", esc(s.answer));
    if (!s.comparison.empty()) h += fmt::format("<p class=\"comparison\">{}</p>\n", esc(s.comparison));
    if (!s.full_size.empty()) h += fmt::format("<p class=\"comparison full-size\">{}</p>\n", esc(s.full_size));
    for (const auto& f : s.figures) {
      h += fmt::format("<figure class=\"figure\" id=\"fig-{}\">\n", esc(f.id));
      if (!f.title.empty()) h += fmt::format("<div class=\"figure-title\">{}</div>\n", esc(f.title));
      h += fmt::format("<div class=\"vis\" data-fig=\"{}\" data-kind=\"{}\"></div>\n", esc(f.id), figure_kind_name(f.kind));
      h += "<figcaption>";
      if (!f.caption.empty()) h += esc(f.caption) + " ";
      h += fmt::format("<a class=\"data\" href=\"fig-{0}.csv\">data: fig-{0}.csv</a></figcaption>\n</figure>\n", esc(f.id));
      figs.push_back({{"id", f.id}, {"spec", full_spec(f)}});
    }
    for (const auto& t : s.tables) render_table(h, t);
    h += "</section>\n";
  }
  h += "<footer>Written by lmlab. Figures drawn with ";
  bool first = true;
  for (const auto& a : bundled_assets()) {
    h += fmt::format("{}{} {}", first ? "" : ", ", a.package, a.version);
    first = false;
  }
  h += " (bundled in assets/, see assets/NOTICE.txt); each figure's data is the CSV linked under it.</footer>\n";
  h += "</main>\n";
  h += "<script type=\"application/json\" id=\"lmlab-figures\">" + script_safe_json(figs) + "</script>\n";
  h += fmt::format("<script>{}</script>\n</body>\n</html>\n", kScript);
  return h;
}

}  // namespace lmlab::report

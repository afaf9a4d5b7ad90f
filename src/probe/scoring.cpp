// Scoring paths: see scoring.hpp.
#include "probe/scoring.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "core/error.hpp"

namespace lmlab::probe {
namespace {

double logsumexp(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

std::vector<double> normalise(std::vector<double> lp) {
  const double z = logsumexp(lp);
  for (auto& x : lp) x -= z;
  return lp;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

void fill_probs(mc_score& s) {
  s.probs.resize(s.logprobs.size());
  for (std::size_t i = 0; i < s.logprobs.size(); ++i) s.probs[i] = std::exp(s.logprobs[i]);
  if (!s.probs.empty()) {
    s.pred = static_cast<int>(std::max_element(s.probs.begin(), s.probs.end()) - s.probs.begin());
    s.confidence = s.probs[static_cast<std::size_t>(s.pred)];
  }
}

}  // namespace

mc_mode parse_mc_mode(std::string_view s) {
  if (s == "auto") return mc_mode::auto_;
  if (s == "echo") return mc_mode::echo;
  if (s == "top_logprobs" || s == "logprobs") return mc_mode::top_logprobs;
  if (s == "letter" || s == "generate") return mc_mode::letter;
  throw usage_error(fmt::format("--scoring: unknown mode '{}'", s), "use auto, echo, top_logprobs or letter");
}

std::string choice_label(int i) { return std::string(1, static_cast<char>('A' + i)); }

// Letter extraction and verbal confidence read text a server sent, which may be anything
// (40,000 spaces, 300,000 digits): they are linear scans with no recursion, not std::regex,
// whose backtracking recursed once per character and overflowed the stack. Each scan keeps
// the semantics of the pattern in its comment (test_scoring checks them against std::regex
// on short random texts).
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct scanner {
  std::string_view t;
  char at(std::size_t i) const { return i < t.size() ? t[i] : '\0'; }
  std::size_t skip_ws(std::size_t i) const {
    while (i < t.size() && is_ws(t[i])) ++i;
    return i;
  }
  std::size_t skip_digits(std::size_t i) const {
    while (i < t.size() && is_digit(t[i])) ++i;
    return i;
  }
  // The first of `words` at i (in order), or 0 when none. The first byte is compared before the
  // rest, since this runs at every position of a reply.
  std::size_t word_at(std::size_t i, std::initializer_list<std::string_view> words) const {
    if (i >= t.size()) return 0;
    for (auto w : words)
      if (t[i] == w.front() && t.substr(i).starts_with(w)) return w.size();
    return 0;
  }
};

// [\(\[\*"']*([A-<last>])(?![A-Za-z<extra>]) at i: the letter's position, or npos.
std::size_t label_at(const scanner& s, std::size_t i, char last, bool no_quote_after) {
  while (i < s.t.size() && (s.t[i] == '(' || s.t[i] == '[' || s.t[i] == '*' || s.t[i] == '"' || s.t[i] == '\''))
    ++i;
  const char c = s.at(i), n = s.at(i + 1);
  if (c < 'A' || c > last || is_alpha(n) || (no_quote_after && n == '\'')) return std::string_view::npos;
  return i;
}

// (?:answer|Answer|ANSWER|정답|답)\s*(?:is|:|은|는|=)?\s*(?:is|:)?\s*<label>, leftmost.
int explicit_answer(const scanner& s, char last) {
  for (std::size_t i = 0; i < s.t.size(); ++i) {
    const std::size_t kw = s.word_at(i, {"answer", "Answer", "ANSWER", "정답", "답"});
    if (!kw) continue;
    const std::size_t a = s.skip_ws(i + kw);
    // The optional words are tried present first, as the pattern's greedy '?' does.
    for (std::size_t w1 : {s.word_at(a, {"is", ":", "은", "는", "="}), std::size_t{0}}) {
      const std::size_t b = s.skip_ws(a + w1);
      for (std::size_t w2 : {s.word_at(b, {"is", ":"}), std::size_t{0}}) {
        const std::size_t at = label_at(s, s.skip_ws(b + w2), last, false);
        if (at != std::string_view::npos) return s.t[at] - 'A';
      }
    }
  }
  return -1;
}

// "A" followed by " <lower-case letter>" is the article ("A good choice..."), not a label.
bool is_article(std::string_view t, std::size_t letter) {
  return t[letter] == 'A' && letter + 2 < t.size() && t[letter + 1] == ' ' &&
         std::islower(static_cast<unsigned char>(t[letter + 2]));
}

// \d{1,3}(?:\.\d+)? at i followed by \s*%: the end of the number and of the '%', or nullopt.
std::optional<std::pair<std::size_t, std::size_t>> percent_at(const scanner& s, std::size_t i) {
  const std::size_t d = s.skip_digits(i);
  if (d == i || d - i > 3) return std::nullopt;
  if (s.at(d) == '.' && is_digit(s.at(d + 1))) {
    const std::size_t f = s.skip_digits(d + 1);
    const std::size_t p = s.skip_ws(f);
    if (s.at(p) == '%') return std::pair{f, p + 1};
  }
  const std::size_t p = s.skip_ws(d);
  if (s.at(p) == '%') return std::pair{d, p + 1};
  return std::nullopt;
}

// (?:[Cc]onfidence|[Cc]onfident|[Ss]ure|[Cc]ertain|확신도|확신|신뢰도)[^0-9%\n]{0,20}?<percent>
std::optional<std::string_view> percent_after_keyword(const scanner& s) {
  for (std::size_t i = 0; i < s.t.size(); ++i) {
    const std::size_t kw = s.word_at(i, {"Confidence", "confidence", "Confident", "confident", "Sure", "sure",
                                         "Certain", "certain", "확신도", "확신", "신뢰도"});
    if (!kw) continue;
    // The gap cannot hold a digit, '%' or newline, so the number starts at the first of them.
    std::size_t g = i + kw;
    while (g < s.t.size() && g - (i + kw) <= 20 && !is_digit(s.t[g]) && s.t[g] != '%' && s.t[g] != '\n') ++g;
    if (g - (i + kw) > 20) continue;
    if (auto m = percent_at(s, g)) return s.t.substr(g, m->first - g);
  }
  return std::nullopt;
}

// <percent>\s*(?:confident|sure|certain|확신|확실), leftmost.
std::optional<std::string_view> percent_before_keyword(const scanner& s) {
  for (std::size_t i = 0; i < s.t.size(); ++i) {
    if (!is_digit(s.t[i])) continue;
    // Only the last three digits of a run can start \d{1,3} (a fourth digit cannot follow);
    // visiting the others would make 300,000 digits quadratic.
    const std::size_t e = s.skip_digits(i);
    for (std::size_t d = e - std::min<std::size_t>(3, e - i); d < e; ++d) {
      auto m = percent_at(s, d);
      if (m && s.word_at(s.skip_ws(m->second), {"confident", "sure", "certain", "확신", "확실"}))
        return s.t.substr(d, m->first - d);
    }
    i = e - 1;
  }
  return std::nullopt;
}

// (?:[Cc]onfidence|확신도|신뢰도)\s*(?:level|score)?\s*[:=]?\s*(0?\.\d+|1\.0+|[01])(?![0-9%])
std::optional<std::string_view> fraction_after_keyword(const scanner& s) {
  const auto free_after = [&](std::size_t i) { return !is_digit(s.at(i)) && s.at(i) != '%'; };
  for (std::size_t i = 0; i < s.t.size(); ++i) {
    const std::size_t kw = s.word_at(i, {"Confidence", "confidence", "확신도", "신뢰도"});
    if (!kw) continue;
    std::size_t p = s.skip_ws(i + kw);
    p = s.skip_ws(p + s.word_at(p, {"level", "score"}));
    p = s.skip_ws(p + (s.at(p) == ':' || s.at(p) == '='));
    const std::size_t dot = s.at(p) == '0' && s.at(p + 1) == '.' ? p + 1 : p;
    if (s.at(dot) == '.' && is_digit(s.at(dot + 1))) {
      const std::size_t e = s.skip_digits(dot + 1);
      if (free_after(e)) return s.t.substr(p, e - p);
    }
    if (s.at(p) == '1' && s.at(p + 1) == '.' && s.at(p + 2) == '0') {
      std::size_t e = p + 2;
      while (s.at(e) == '0') ++e;
      if (free_after(e)) return s.t.substr(p, e - p);
    }
    if ((s.at(p) == '0' || s.at(p) == '1') && free_after(p + 1)) return s.t.substr(p, 1);
  }
  return std::nullopt;
}

}  // namespace

int extract_letter(std::string_view t, int n_choices) {
  const char last = static_cast<char>('A' + n_choices - 1);
  const scanner s{t};
  // 1. An explicit statement of the answer.
  if (int k = explicit_answer(s, last); k >= 0) return k;
  // 2. A reply that starts with the letter: "B", "B.", "(B)", "**B**", "B) because":
  //    ^\s*<label> with no apostrophe after the letter either.
  if (const std::size_t at = label_at(s, s.skip_ws(0), last, true); at != std::string_view::npos && !is_article(t, at))
    return t[at] - 'A';
  // 3. A parenthesised letter anywhere: "(C)".
  for (std::size_t i = 0; i + 2 < t.size(); ++i)
    if (t[i] == '(' && t[i + 1] >= 'A' && t[i + 1] <= last && t[i + 2] == ')') return t[i + 1] - 'A';
  // 4. Isolated capitals (?:^|[^A-Za-z])([A-<last>])(?![A-Za-z]): accept only a single
  //    distinct candidate, ignoring the article "A ".
  int found = -1;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] < 'A' || t[i] > last || (i > 0 && is_alpha(t[i - 1])) || is_alpha(s.at(i + 1)) || is_article(t, i)) continue;
    const int k = t[i] - 'A';
    if (found >= 0 && found != k) return -1;
    found = k;
  }
  return found;
}

std::optional<std::vector<double>> choice_logprobs_from_top(const std::vector<std::pair<std::string, double>>& top,
                                                            int n_choices) {
  std::vector<std::vector<double>> per(static_cast<std::size_t>(n_choices));
  double listed_mass = 0, min_lp = INFINITY;
  for (const auto& [tok, lp] : top) {
    listed_mass += std::exp(lp);
    min_lp = std::min(min_lp, lp);
    std::string_view s = tok;
    while (!s.empty() && (s.front() == ' ' || s.front() == '(' || s.front() == '\t' || s.front() == '\n'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == ')' || s.back() == '.' || s.back() == ':')) s.remove_suffix(1);
    if (s.size() != 1) continue;
    const int k = s[0] - 'A';
    if (k >= 0 && k < n_choices) per[static_cast<std::size_t>(k)].push_back(lp);
  }
  int unseen = 0;
  for (const auto& v : per) unseen += v.empty();
  if (unseen == n_choices) return std::nullopt;
  std::vector<double> out(static_cast<std::size_t>(n_choices));
  const double rest = std::max(0.0, 1.0 - listed_mass);
  const double unseen_p = unseen ? std::min(rest / unseen, std::exp(min_lp)) : 0.0;
  for (std::size_t k = 0; k < out.size(); ++k)
    out[k] = per[k].empty() ? (unseen_p > 0 ? std::log(unseen_p) : -1e9) : logsumexp(per[k]);
  return normalise(std::move(out));
}

double continuation_logprob(const std::vector<token_logprob>& tokens, std::size_t context_bytes, std::size_t end_bytes) {
  double sum = 0;
  std::size_t pos = 0;
  const bool have_offsets = !tokens.empty() && tokens[0].offset >= 0;
  for (const auto& t : tokens) {
    const std::size_t start = have_offsets && t.offset >= 0 ? static_cast<std::size_t>(t.offset) : pos;
    const std::size_t end = start + t.token.size();
    pos = end;
    // A token straddling the boundary (a merged " B") belongs to the continuation.
    if (end > context_bytes && start < end_bytes) sum += t.logprob;
  }
  return sum;
}

std::optional<double> parse_verbal_confidence(std::string_view text) {
  const scanner s{text};
  // A percentage next to a keyword first ("Confidence: 80%", "90% sure"), then a fraction
  // ("confidence 0.7"); a percentage over 100 falls through to the fraction.
  auto pct = percent_after_keyword(s);
  if (!pct) pct = percent_before_keyword(s);
  if (pct) {
    // strtod, not stod: "0." + 400 zeros + "1" underflows, which stod throws as out_of_range.
    const double v = std::strtod(std::string(*pct).c_str(), nullptr);  // at most 3 digits before the point
    if (v >= 0 && v <= 100) return v / 100.0;
  }
  if (auto f = fraction_after_keyword(s)) return std::strtod(std::string(*f).c_str(), nullptr);
  return std::nullopt;
}

bool is_abstention(std::string_view text) {
  const std::string t = lower(text);
  static const char* phrases[] = {
      "i don't know", "i do not know", "don't know", "cannot be determined", "can't be determined",
      "cannot determine", "can't determine", "not enough information", "insufficient information",
      "not mentioned", "not stated", "not provided", "does not say", "doesn't say", "does not mention",
      "doesn't mention", "unanswerable", "no information", "not specified", "unknown",
      "모르겠", "알 수 없", "알수없", "나와 있지 않", "언급되어 있지 않", "언급되지 않", "정보가 없", "답할 수 없"};
  for (const char* p : phrases)
    if (t.find(p) != std::string::npos) return true;
  return false;
}

std::string normalize_answer(std::string_view text) {
  std::string o;
  bool space = false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      space = !o.empty();
      continue;
    }
    if (space) o += ' ';
    space = false;
    o += static_cast<char>(std::tolower(u));
  }
  const auto strip = [](char c) { return c == '.' || c == ',' || c == '!' || c == '?' || c == '"' || c == '\'' || c == ':' || c == '*'; };
  while (!o.empty() && strip(o.back())) o.pop_back();
  std::size_t b = 0;
  while (b < o.size() && strip(o[b])) ++b;
  return o.substr(b);
}

mc_score score_multiple_choice(client& c, const capabilities& caps, const gen_request& base, int n_choices,
                               mc_mode mode) {
  LMLAB_CHECK(n_choices >= 2 && n_choices <= 26, "score_multiple_choice: {} choices (need 2..26)", n_choices);
  mc_score s;
  std::string note;
  const bool use_echo = mode == mc_mode::echo || (mode == mc_mode::auto_ && caps.echo);
  if (use_echo) {
    LMLAB_CHECK_HINT(caps.completions, "use --scoring auto", "--scoring echo: {} has no /completions endpoint",
                     c.config().base_url);
    const std::string context = base.prompt.empty() ? render_plain(base.messages) : base.prompt;
    for (int k = 0; k < n_choices; ++k) {
      gen_request q = base;
      q.prompt = context + " " + choice_label(k);
      q.echo = true;
      q.max_tokens = 1;
      q.top_logprobs = 0;
      q.temperature = 0;
      const auto r = c.generate(api::completions, q);
      s.from_cache = s.from_cache && r.from_cache;
      s.logprobs.push_back(continuation_logprob(r.tokens, context.size(), q.prompt.size()));
    }
    s.logprobs = normalise(std::move(s.logprobs));
    fill_probs(s);
    s.path = "echo_logprobs";
    return s;
  }
  const bool use_top = mode == mc_mode::top_logprobs || (mode == mc_mode::auto_ && caps.top_logprobs);
  if (use_top) {
    gen_request q = base;
    q.max_tokens = 1;
    q.temperature = 0;
    const api a = caps.logprob_api;
    q.top_logprobs = a == api::completions ? 5 : a == api::llama ? 10 : 20;
    const auto r = c.generate(a, q);
    s.from_cache = r.from_cache;
    s.response = r.text;
    if (!r.tokens.empty()) {
      if (auto lp = choice_logprobs_from_top(r.tokens[0].top, n_choices)) {
        s.logprobs = std::move(*lp);
        fill_probs(s);
        s.path = "top_logprobs";
        return s;
      }
      note = "no choice letter among the top logprobs; fell back to the generated letter";
    } else {
      note = "the response carried no logprobs; fell back to the generated letter";
    }
  }
  gen_request q = base;
  q.top_logprobs = 0;
  q.max_tokens = std::max(q.max_tokens, 16);
  const auto r = c.generate(caps.preferred, q);
  s.from_cache = s.from_cache && r.from_cache;
  s.response = r.text;
  s.pred = extract_letter(r.text, n_choices);
  s.path = s.pred >= 0 ? "generated_letter" : "unparsed";
  s.note = note;
  return s;
}

}  // namespace lmlab::probe

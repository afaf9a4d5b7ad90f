// Scoring paths: see scoring.hpp.
#include "probe/scoring.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

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

int extract_letter(std::string_view text, int n_choices) {
  const std::string t(text);
  const char last = static_cast<char>('A' + n_choices - 1);
  const std::string cls = fmt::format("[A-{}]", last);
  const auto idx = [](const std::string& m) { return m[0] - 'A'; };
  std::smatch m;
  // 1. An explicit statement of the answer.
  const std::regex expl("(?:answer|Answer|ANSWER|정답|답)\\s*(?:is|:|은|는|=)?\\s*(?:is|:)?\\s*[\\(\\[\\*\"']*(" + cls +
                        ")(?![A-Za-z])");
  if (std::regex_search(t, m, expl)) return idx(m[1]);
  // 2. A reply that starts with the letter: "B", "B.", "(B)", "**B**", "B) because".
  const std::regex lead("^\\s*[\\(\\[\\*\"']*(" + cls + ")(?![A-Za-z'])");
  if (std::regex_search(t, m, lead)) {
    // "A" followed by a word is the article ("A good choice..."), not a label.
    const std::size_t after = static_cast<std::size_t>(m.position(0) + m.length(0));
    const bool article = m[1] == "A" && after + 1 < t.size() && t[after] == ' ' &&
                         std::islower(static_cast<unsigned char>(t[after + 1]));
    if (!article) return idx(m[1]);
  }
  // 3. A parenthesised letter anywhere: "(C)".
  const std::regex paren("\\((" + cls + ")\\)");
  if (std::regex_search(t, m, paren)) return idx(m[1]);
  // 4. Isolated capitals: accept only a single distinct candidate, ignoring the article "A ".
  const std::regex iso("(?:^|[^A-Za-z])(" + cls + ")(?![A-Za-z])");
  int found = -1;
  for (auto it = std::sregex_iterator(t.begin(), t.end(), iso); it != std::sregex_iterator(); ++it) {
    const auto& mm = *it;
    const std::size_t after = static_cast<std::size_t>(mm.position(1) + 1);
    if (mm[1] == "A" && after + 1 < t.size() && t[after] == ' ' && std::islower(static_cast<unsigned char>(t[after + 1])))
      continue;
    const int k = idx(mm[1]);
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
  const std::string t(text);
  std::smatch m;
  static const std::regex pct_kw("(?:[Cc]onfidence|[Cc]onfident|[Ss]ure|[Cc]ertain|확신도|확신|신뢰도)[^0-9%\\n]{0,20}?(\\d{1,3}(?:\\.\\d+)?)\\s*%");
  static const std::regex pct_before("(\\d{1,3}(?:\\.\\d+)?)\\s*%\\s*(?:confident|sure|certain|확신|확실)");
  static const std::regex frac("(?:[Cc]onfidence|확신도|신뢰도)\\s*(?:level|score)?\\s*[:=]?\\s*(0?\\.\\d+|1\\.0+|[01])(?![0-9%])");
  if (std::regex_search(t, m, pct_kw) || std::regex_search(t, m, pct_before)) {
    const double v = std::stod(m[1]);
    if (v >= 0 && v <= 100) return v / 100.0;
  }
  if (std::regex_search(t, m, frac)) return std::stod(m[1]);
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

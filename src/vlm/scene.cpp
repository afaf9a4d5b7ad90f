// Scene generator, words, captions and questions: see scene.hpp.
#include "vlm/scene.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/error.hpp"

namespace lmlab::vlm {

namespace {

const std::vector<std::string>& class_names() {
  static const std::vector<std::string> v = {"square", "circle", "triangle", "cross", "ring", "diamond", "hbar", "vbar"};
  return v;
}
const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> v = {"red", "green", "blue", "yellow", "magenta", "cyan"};
  return v;
}
constexpr float k_rgb[k_max_colours][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 0, 1}, {0, 1, 1}};

// Whether pixel (a, b) of a shape's box, in box coordinates [-1, 1]^2 (b down), is inside.
bool inside(std::int32_t cls, double a, double b) {
  const double r2 = a * a + b * b;
  switch (cls) {
    case 0: return std::abs(a) <= 0.8 && std::abs(b) <= 0.8;         // square
    case 1: return r2 <= 0.85;                                        // circle
    case 2: return std::abs(a) <= (b + 1) / 2 + 0.05;                 // triangle, apex up
    case 3: return std::abs(a) <= 0.3 || std::abs(b) <= 0.3;          // cross
    case 4: return r2 >= 0.3 && r2 <= 1.0;                            // ring
    case 5: return std::abs(a) + std::abs(b) <= 1.0;                  // diamond
    case 6: return std::abs(b) <= 0.35;                               // horizontal bar
    default: return std::abs(a) <= 0.35;                              // vertical bar
  }
}

// A class from the Zipf law over the classes not in `taken`.
std::int32_t draw_class(const scene_config& cfg, const std::vector<bool>& taken, rng& g) {
  std::vector<double> w(static_cast<std::size_t>(cfg.n_classes), 0.0);
  double total = 0;
  for (std::int64_t c = 0; c < cfg.n_classes; ++c)
    if (!taken[static_cast<std::size_t>(c)]) total += w[static_cast<std::size_t>(c)] = std::pow(static_cast<double>(c + 1), -cfg.popularity);
  double u = g.uniform() * total;
  for (std::int64_t c = 0; c < cfg.n_classes; ++c) {
    u -= w[static_cast<std::size_t>(c)];
    if (u < 0 && w[static_cast<std::size_t>(c)] > 0) return static_cast<std::int32_t>(c);
  }
  for (std::int64_t c = cfg.n_classes - 1; c >= 0; --c)
    if (!taken[static_cast<std::size_t>(c)]) return static_cast<std::int32_t>(c);
  LMLAB_ASSERT(false, "draw_class: every class taken");
  return 0;
}

}  // namespace

void scene_config::validate(const std::string& where) const {
  LMLAB_CHECK(canvas >= 4 && canvas <= 256, "{}.canvas: {} is outside [4, 256]", where, canvas);
  LMLAB_CHECK(grid >= 1 && canvas % grid == 0, "{}.grid: {} must divide canvas {}", where, grid, canvas);
  LMLAB_CHECK(canvas / grid >= 3, "{}.grid: cells of {} pixels are too small to draw a shape (need 3)", where, canvas / grid);
  LMLAB_CHECK(n_classes >= 2 && n_classes <= k_max_classes, "{}.n_classes: {} is outside [2, {}]", where, n_classes, k_max_classes);
  LMLAB_CHECK(n_colours >= 1 && n_colours <= k_max_colours, "{}.n_colours: {} is outside [1, {}]", where, n_colours, k_max_colours);
  LMLAB_CHECK(min_objects >= 1 && min_objects <= max_objects, "{}.min_objects: {} must be in [1, max_objects = {}]", where,
              min_objects, max_objects);
  LMLAB_CHECK_HINT(max_objects <= std::min(n_classes, grid * grid), "objects have distinct classes and cells",
                   "{}.max_objects: {} exceeds min(n_classes = {}, grid^2 = {})", where, max_objects, n_classes, grid * grid);
  LMLAB_CHECK(popularity >= 0 && cooccur >= 0 && cooccur <= 1 && noise >= 0,
              "{}: popularity >= 0, cooccur in [0, 1] and noise >= 0 expected, got {}, {}, {}", where, popularity, cooccur, noise);
}

bool scene::has(std::int32_t cls) const { return find(cls) != nullptr; }

const object* scene::find(std::int32_t cls) const {
  for (const auto& o : objects)
    if (o.cls == cls) return &o;
  return nullptr;
}

std::int32_t partner_of(std::int32_t cls, std::int64_t n_classes) {
  const std::int32_t p = cls ^ 1;
  return p < n_classes ? p : -1;
}

std::vector<object> draw_objects(const scene_config& cfg, rng& g) {
  const std::int64_t n = g.range(cfg.min_objects, cfg.max_objects);
  std::vector<bool> taken(static_cast<std::size_t>(cfg.n_classes), false);
  std::vector<std::int64_t> cells(static_cast<std::size_t>(cfg.grid * cfg.grid));
  for (std::size_t i = 0; i < cells.size(); ++i) cells[i] = static_cast<std::int64_t>(i);
  std::vector<object> out;
  for (std::int64_t i = 0; i < n; ++i) {
    object o;
    // Co-occurrence: with probability cooccur, the absent partner of an object already drawn.
    std::vector<std::int32_t> partners;
    for (const auto& p : out) {
      const std::int32_t q = partner_of(p.cls, cfg.n_classes);
      if (q >= 0 && !taken[static_cast<std::size_t>(q)]) partners.push_back(q);
    }
    const bool pair = !partners.empty() && g.uniform() < cfg.cooccur;
    o.cls = pair ? partners[g.below(partners.size())] : draw_class(cfg, taken, g);
    taken[static_cast<std::size_t>(o.cls)] = true;
    o.colour = static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(cfg.n_colours)));
    o.large = g.uniform() < 0.5;
    // A free cell (partial Fisher-Yates over the cells).
    const std::size_t j = static_cast<std::size_t>(i) + g.below(cells.size() - static_cast<std::size_t>(i));
    std::swap(cells[static_cast<std::size_t>(i)], cells[j]);
    o.cx = static_cast<std::int32_t>(cells[static_cast<std::size_t>(i)] % cfg.grid);
    o.cy = static_cast<std::int32_t>(cells[static_cast<std::size_t>(i)] / cfg.grid);
    out.push_back(o);
  }
  return out;
}

tensor render(const scene_config& cfg, const std::vector<object>& objects, rng& g) {
  const std::int64_t S = cfg.canvas, cell = S / cfg.grid;
  tensor img = tensor::zeros({3, S, S});
  float* px = img.data<float>();
  for (const auto& o : objects) {
    // Large shapes fill the cell but one pixel; small ones about 60% of it, centred.
    const std::int64_t side = o.large ? std::max<std::int64_t>(3, cell - 1) : std::max<std::int64_t>(3, (cell * 3 + 2) / 5);
    const std::int64_t x0 = o.cx * cell + (cell - side) / 2, y0 = o.cy * cell + (cell - side) / 2;
    for (std::int64_t v = 0; v < side; ++v)
      for (std::int64_t u = 0; u < side; ++u) {
        const double a = 2.0 * (static_cast<double>(u) + 0.5) / static_cast<double>(side) - 1.0;
        const double b = 2.0 * (static_cast<double>(v) + 0.5) / static_cast<double>(side) - 1.0;
        if (!inside(o.cls, a, b)) continue;
        for (int ch = 0; ch < 3; ++ch) px[(ch * S + y0 + v) * S + x0 + u] = k_rgb[o.colour][ch];
      }
  }
  if (cfg.noise > 0)
    for (std::int64_t i = 0; i < img.numel(); ++i) px[i] += static_cast<float>(cfg.noise * g.normal());
  return img;
}

scene make_scene(const scene_config& cfg, std::uint64_t seed, std::uint64_t index) {
  rng g = rng(seed, 0x5CE7E).fork(index);
  scene s;
  s.objects = draw_objects(cfg, g);
  s.image = render(cfg, s.objects, g);
  return s;
}

// ---- words -------------------------------------------------------------------------------

const std::vector<std::string>& vocabulary() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> w = {"<pad>", "<bos>", "<eos>", "is", "there", "a", "the", "what", "colour", "left", "of",
                                  "above", "?", ",", ".", "yes", "no"};
    for (const auto& c : class_names()) w.push_back(c);
    for (const auto& c : colour_names()) w.push_back(c);
    return w;
  }();
  return v;
}

std::int32_t word_id(const std::string& w) {
  static const std::map<std::string, std::int32_t> index = [] {
    std::map<std::string, std::int32_t> m;
    for (std::size_t i = 0; i < vocabulary().size(); ++i) m[vocabulary()[i]] = static_cast<std::int32_t>(i);
    return m;
  }();
  const auto it = index.find(w);
  LMLAB_CHECK(it != index.end(), "vlm: unknown word '{}' (the scene vocabulary has {} words)", w, index.size());
  return it->second;
}

std::vector<std::int32_t> encode_words(const std::string& text) {
  std::vector<std::int32_t> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(word_id(w));
  return out;
}

std::string decode_words(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (const auto id : ids) {
    LMLAB_CHECK(id >= 0 && static_cast<std::size_t>(id) < vocabulary().size(), "vlm: token id {} outside the vocabulary", id);
    s += (s.empty() ? "" : " ") + vocabulary()[static_cast<std::size_t>(id)];
  }
  return s;
}

const std::string& class_name(std::int32_t c) { return class_names().at(static_cast<std::size_t>(c)); }
const std::string& colour_name(std::int32_t c) { return colour_names().at(static_cast<std::size_t>(c)); }

// ---- captions and questions ---------------------------------------------------------------

std::string caption(const scene& s) {
  std::vector<object> objs = s.objects;
  std::sort(objs.begin(), objs.end(), [](const object& a, const object& b) { return std::pair(a.cy, a.cx) < std::pair(b.cy, b.cx); });
  std::string out;
  for (std::size_t i = 0; i < objs.size(); ++i)
    out += (i ? " , " : "") + colour_name(objs[i].colour) + " " + class_name(objs[i].cls);
  return out + " .";
}

const char* qa_kind_name(qa_kind k) {
  switch (k) {
    case qa_kind::exist: return "exist";
    case qa_kind::colour: return "colour";
    default: return "relation";
  }
}

qa exist_question(const scene& s, std::int32_t cls) {
  return {qa_kind::exist, "is there a " + class_name(cls) + " ?", s.has(cls) ? "yes" : "no"};
}

qa make_question(const scene& s, qa_kind k, const scene_config& cfg, rng& g) {
  const auto& objs = s.objects;
  if (k == qa_kind::colour) {
    const object& o = objs[g.below(objs.size())];
    return {k, "what colour is the " + class_name(o.cls) + " ?", colour_name(o.colour)};
  }
  if (k == qa_kind::relation) {
    // The drawn direction, or the other one when no pair differs along it.
    bool horizontal = g.uniform() < 0.5;
    std::vector<std::pair<std::size_t, std::size_t>> pairs;
    for (int attempt = 0; attempt < 2 && pairs.empty(); ++attempt, horizontal = !horizontal)
      for (std::size_t i = 0; i < objs.size(); ++i)
        for (std::size_t j = 0; j < objs.size(); ++j)
          if (i != j && (horizontal ? objs[i].cx != objs[j].cx : objs[i].cy != objs[j].cy)) pairs.emplace_back(i, j);
    horizontal = !horizontal;  // the direction the pairs were found in
    if (!pairs.empty()) {
      const auto [i, j] = pairs[g.below(pairs.size())];
      const bool yes = horizontal ? objs[i].cx < objs[j].cx : objs[i].cy < objs[j].cy;
      return {k, "is the " + class_name(objs[i].cls) + (horizontal ? " left of the " : " above the ") + class_name(objs[j].cls) + " ?",
              yes ? "yes" : "no"};
    }
  }
  // Existence (also the fallback): a present class or a uniformly random absent one.
  if (g.uniform() < 0.5 || static_cast<std::int64_t>(objs.size()) == cfg.n_classes)
    return exist_question(s, objs[g.below(objs.size())].cls);
  std::vector<std::int32_t> absent;
  for (std::int32_t c = 0; c < cfg.n_classes; ++c)
    if (!s.has(c)) absent.push_back(c);
  return exist_question(s, absent[g.below(absent.size())]);
}

}  // namespace lmlab::vlm

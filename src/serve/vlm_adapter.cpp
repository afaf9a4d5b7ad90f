// `lmlab serve` for lab VLM checkpoints: see vlm_adapter.hpp. Built without the vlm layer
// (-DLMLAB_LAYERS_ONLY), images are refused and no checkpoint is a VLM one.
#include "serve/vlm_adapter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <mutex>
#include <sstream>

#include "autograd/autograd.hpp"
#include "core/error.hpp"

#ifdef LMLAB_SERVE_HAS_VLM
#include "vlm/checkpoint.hpp"
#include "vlm/image_io.hpp"
#include "vlm/scene.hpp"
#endif

namespace lmlab::serve {

tensor resample_image(const tensor& image, std::int64_t side) {
  LMLAB_CHECK(image.dim() == 3 && image.size(0) == 3, "resample_image: expected (3, H, W), got {}", shape_str(image.shape()));
  const std::int64_t H = image.size(1), W = image.size(2);
  const tensor src = image.contiguous_raw();
  const float* p = src.data<float>();
  tensor out = tensor::zeros({3, side, side});
  float* q = out.data<float>();
  // Output pixel (oy, ox) covers [oy H / side, (oy + 1) H / side) in input rows (and likewise
  // columns); input pixel y belongs to it when its centre y + 0.5 falls in that range.
  const auto span = [&](std::int64_t o, std::int64_t n) {
    // First and one-past-last input index whose centre lies in [o n / side, (o + 1) n / side).
    std::int64_t lo = (2 * o * n + side - 1) / (2 * side);           // ceil(o n / side - 0.5)
    std::int64_t hi = (2 * (o + 1) * n + side - 1) / (2 * side);     // ceil((o + 1) n / side - 0.5)
    if (hi <= lo) {  // upsampling: no centre inside; take the nearest input pixel
      lo = std::min<std::int64_t>(n - 1, (2 * o + 1) * n / (2 * side));
      hi = lo + 1;
    }
    return std::pair(lo, hi);
  };
  for (std::int64_t oy = 0; oy < side; ++oy) {
    const auto [y0, y1] = span(oy, H);
    for (std::int64_t ox = 0; ox < side; ++ox) {
      const auto [x0, x1] = span(ox, W);
      const double cnt = static_cast<double>((y1 - y0) * (x1 - x0));
      for (std::int64_t c = 0; c < 3; ++c) {
        double s = 0;
        for (std::int64_t y = y0; y < y1; ++y)
          for (std::int64_t x = x0; x < x1; ++x) s += p[(c * H + y) * W + x];
        q[(c * side + oy) * side + ox] = static_cast<float>(s / cnt);
      }
    }
  }
  return out;
}

#ifdef LMLAB_SERVE_HAS_VLM

namespace {

// The scene vocabulary as a tokenizer: one id per space-separated word.
class scene_word_tokenizer final : public data::tokenizer {
 public:
  std::vector<std::int32_t> encode(std::string_view text) const override {
    std::vector<std::int32_t> out;
    std::istringstream in{std::string(text)};
    for (std::string w; in >> w;) {
      const auto& v = vlm::vocabulary();
      const auto it = std::find(v.begin(), v.end(), w);
      LMLAB_CHECK_HINT(it != v.end(), "the lab VLM reads only its scene words (docs/vlm.md)", "the word '{}' is not in the lab VLM's {} scene words", w,
                       v.size());
      out.push_back(static_cast<std::int32_t>(it - v.begin()));
    }
    return out;
  }
  std::string decode(std::span<const std::int32_t> ids) const override { return vlm::decode_words({ids.begin(), ids.end()}); }
  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(vlm::vocabulary().size()); }
  std::string kind() const override { return "scene_words"; }
  std::int32_t special_id(std::string_view name) const override {
    if (name == "<|endoftext|>") return vlm::word_id("<eos>");
    return -1;
  }
  nlohmann::json to_json() const override { return {{"kind", kind()}, {"vocabulary", vlm::vocabulary()}}; }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
}

class vlm_lm final : public causal_lm {
 public:
  explicit vlm_lm(vlm::loaded_vlm v) : v_(std::move(v)) {}
  std::int64_t vocab_size() const override { return v_.model->cfg.lm.vocab_size; }
  std::int64_t context() const override { return v_.model->cfg.lm.n_ctx - v_.model->image_tokens(); }
  bool has_kv_cache() const override { return false; }
  std::string architecture() const override {
    return fmt::format("lmlab-vlm (ViT + {} projector, {} image tokens, zoo LM)", v_.task.projector, v_.model->image_tokens());
  }
  int max_images() const override { return 1; }
  std::unique_ptr<decoder> new_decoder() override { return std::make_unique<vlm_decoder>(*this, tensor::zeros({3, canvas(), canvas()})); }
  std::unique_ptr<decoder> new_image_decoder(std::span<const tensor> images) override {
    LMLAB_CHECK(images.size() == 1, "serve: the lab VLM reads one image, got {}", images.size());
    return std::make_unique<vlm_decoder>(*this, resample_image(images[0], canvas()));
  }

  std::optional<std::string> chat_prompt(const std::vector<std::pair<std::string, std::string>>& turns) const override {
    std::string text;
    for (const auto& [role, content] : turns)
      if (role == "user") text = content;
    text = lower(text);
    if (const auto q = text.find('?'); q != std::string::npos) text = text.substr(0, q + 1);
    for (const char* p : {"?", ",", "."}) replace_all(text, p, std::string(" ") + p + " ");
    replace_all(text, "horizontal bar", "hbar");
    replace_all(text, "vertical bar", "vbar");
    std::vector<std::string> words;
    std::istringstream in(text);
    for (std::string w; in >> w;) words.push_back(w);
    std::string out;
    const auto& v = vlm::vocabulary();
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i + 2 < words.size() && words[i] == "in" && (words[i + 1] == "the" || words[i + 1] == "this") && words[i + 2] == "image") {
        i += 2;
        continue;
      }
      if (words[i].front() != '<' && std::find(v.begin(), v.end(), words[i]) != v.end()) out += (out.empty() ? "" : " ") + words[i];
    }
    return out;
  }

  std::int64_t canvas() const { return v_.model->cfg.canvas; }

  // Logits of image tokens + ids at the text positions: (T, V).
  logits_rows forward(const tensor& image, std::span<const std::int32_t> ids) {
    const auto T = static_cast<std::int64_t>(ids.size());
    const std::int64_t V = vocab_size(), K = v_.model->image_tokens(), S = canvas();
    for (const std::int32_t id : ids) LMLAB_CHECK(id >= 0 && id < V, "serve: token id {} is outside the vocabulary of {}", id, V);
    no_grad ng;
    std::lock_guard lk(mu_);
    const tensor feats = v_.model->vision.forward(image.view_raw({1, 3, S, S}));
    const tensor lg = v_.model->logits(feats, tensor::from<std::int32_t>({1, T}, ids)).contiguous_raw();  // (1, K + T, V)
    logits_rows out;
    out.rows = T;
    out.vocab = V;
    const float* p = lg.data<float>() + K * V;
    out.data.assign(p, p + T * V);
    return out;
  }

 private:
  class vlm_decoder final : public decoder {
   public:
    vlm_decoder(vlm_lm& lm, tensor image) : lm_(lm), image_(std::move(image)) {}
    logits_rows prefill(std::span<const std::int32_t> prompt) override {
      LMLAB_CHECK(!prompt.empty() && static_cast<std::int64_t>(prompt.size()) <= lm_.context(),
                  "serve: prefill of {} tokens (the lab VLM takes 1..{})", prompt.size(), lm_.context());
      return lm_.forward(image_, prompt);
    }
    // One word, then <eos> (see the header).
    std::vector<float> step(std::int32_t) override {
      std::vector<float> l(static_cast<std::size_t>(lm_.vocab_size()), -std::numeric_limits<float>::infinity());
      l[static_cast<std::size_t>(vlm::word_id("<eos>"))] = 0;
      return l;
    }

   private:
    vlm_lm& lm_;
    tensor image_;
  };

  vlm::loaded_vlm v_;
  std::mutex mu_;
};

}  // namespace

bool is_vlm_checkpoint_dir(const std::filesystem::path& dir) { return vlm::is_vlm_checkpoint(dir); }

served_model load_vlm_served_model(const std::filesystem::path& dir, const std::string& name) {
  served_model m;
  m.name = name;
  if (m.name.empty()) {
    auto d = std::filesystem::absolute(dir).lexically_normal();
    if (d.filename().empty()) d = d.parent_path();
    m.name = d.filename().string();
  }
  m.dir = dir;
  auto v = vlm::load_vlm(dir);
  m.num_parameters = v.model->num_parameters();
  m.lm = std::make_unique<vlm_lm>(std::move(v));
  m.tok = std::make_unique<scene_word_tokenizer>();
  return m;
}

tensor decode_image_part(const nlohmann::json& part, const std::string& where, const served_model& m, const server_limits& lim) {
  if (m.lm->max_images() <= 0)
    throw api_error(400, fmt::format("'{}': this model reads text only and does not accept images", where), where, "images_not_supported");
  const nlohmann::json* iu = part.contains("image_url") ? &part["image_url"] : nullptr;
  const nlohmann::json* url = iu && iu->is_object() && iu->contains("url") ? &(*iu)["url"] : nullptr;
  if (!url || !url->is_string())
    throw api_error(400, fmt::format("'{}' must be {{\"type\": \"image_url\", \"image_url\": {{\"url\": \"data:image/png;base64,...\"}}}}", where),
                    where + ".image_url", "invalid_image_url");
  const std::string& u = url->get_ref<const std::string&>();
  vlm::image_bytes img;
  try {
    img = vlm::decode_image_data_uri(u);
  } catch (const vlm::image_error& e) {
    throw api_error(400, fmt::format("'{}.image_url.url': {} (this server reads PNG and JPEG data URIs only, not remote URLs)", where, e.what()),
                    where + ".image_url.url", "invalid_image_url");
  }
  try {
    const auto [w, h] = vlm::image_size(img);
    if (w * h > lim.max_image_pixels)
      throw api_error(400, fmt::format("'{}': the image is {}x{} = {} pixels, more than this server's limit of {}", where, w, h, w * h,
                                       lim.max_image_pixels),
                      where + ".image_url.url", "image_too_large");
    return vlm::decode_image(img, lim.max_image_pixels);
  } catch (const vlm::image_error& e) {
    throw api_error(400, fmt::format("'{}': {}", where, e.what()), where + ".image_url.url", "invalid_image");
  }
}

#else  // no vlm layer in this build

bool is_vlm_checkpoint_dir(const std::filesystem::path&) { return false; }

served_model load_vlm_served_model(const std::filesystem::path& dir, const std::string&) {
  throw error(fmt::format("{}: VLM checkpoints need the vlm layer, which this build leaves out", dir.string()));
}

tensor decode_image_part(const nlohmann::json&, const std::string& where, const served_model&, const server_limits&) {
  throw api_error(400, fmt::format("'{}': this build of lmlab serve does not read images", where), where, "images_not_supported");
}

#endif

}  // namespace lmlab::serve

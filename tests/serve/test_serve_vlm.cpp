// `lmlab serve` of a lab VLM checkpoint (serve/vlm_adapter.hpp), end to end: a tiny VLM is
// trained and saved by the lab's own runner (vlm::run_vlm with a checkpoint folder), served on
// 127.0.0.1, and probed with the `pope` suite through the probe harness; every served answer
// must equal the answer the loaded model gives in-process on the same decoded image, and the
// suite's POPE metrics must equal vlm::pope_score of those answers. Malformed, non-PNG,
// oversized and surplus images, and images sent to a text-only model, get a 400 JSON error with
// its code, and the server keeps answering.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <fstream>

#include "autograd/autograd.hpp"
#include "core/fs.hpp"
#include "core/threads.hpp"
#include "lab/runner.hpp"
#include "probe/runner.hpp"
#include "probe/suites.hpp"
#include "serve/server.hpp"
#include "serve/vlm_adapter.hpp"
#include "tiny_model.hpp"
#include "vlm/checkpoint.hpp"
#include "vlm/image_io.hpp"
#include "vlm/jpeg.hpp"
#include "vlm/pope.hpp"

using namespace lmlab;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct reply {
  int status = 0;
  json body;
};

reply post(int port, const json& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

json chat_with(const std::vector<std::string>& urls, const std::string& text = "Is there a circle in the image?") {
  json parts = json::array({{{"type", "text"}, {"text", text}}});
  for (const auto& u : urls) parts.push_back({{"type", "image_url"}, {"image_url", {{"url", u}}}});
  return {{"messages", json::array({{{"role", "user"}, {"content", parts}}})}, {"max_tokens", 4}, {"temperature", 0}};
}

// A tiny VLM trained by the lab runner (well under a second of CPU: the test needs its answers to be
// the model's, not good ones) and saved to `dir`.
void train_tiny_vlm(const fs::path& dir) {
  const json config = {
      {"model", {{"arch", "gpt"}, {"d_model", 32}, {"n_layers", 2}, {"n_heads", 2}}},
      {"task", {{"name", "vlm_pope"}, {"canvas", 24}, {"patch", 6}, {"projector", "mlp"}, {"image_tokens", 4},
                {"clip_steps", 10}, {"align_steps", 10}, {"train_scenes", 64}, {"test_scenes", 4}}},
      {"train", {{"steps", 60}, {"batch_size", 8}, {"lr", 3e-3}}},
      {"seed", 0}};
  lab::run_context ctx{config, 5, {}, nullptr, -1, nullptr};
  vlm::run_vlm(ctx, dir);
}

class serve_vlm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);  // a tiny model: more threads only spin (6 CPU-s instead of 0.1 on a loaded machine)
    work_ = new fs::path(fs::temp_directory_path() / ("lmlab_serve_vlm_" + std::to_string(::getpid())));
    fs::remove_all(*work_);
    train_tiny_vlm(*work_ / "vlm-ck");
    model_ = new serve::served_model(serve::load_served_model(*work_ / "vlm-ck"));
    serve::server_options so;
    so.port = 0;
    so.threads = 2;
    so.limits.max_image_pixels = 192 * 192;
    srv_ = new serve::server(*model_, so);
    srv_->start();
  }
  static void TearDownTestSuite() {
    delete srv_;
    delete model_;
    fs::remove_all(*work_);
    delete work_;
  }
  static fs::path* work_;
  static serve::served_model* model_;
  static serve::server* srv_;
};
fs::path* serve_vlm::work_ = nullptr;
serve::served_model* serve_vlm::model_ = nullptr;
serve::server* serve_vlm::srv_ = nullptr;

TEST(serve_vlm_resample, blocks_average_and_upsampling_takes_the_nearest_pixel) {
  // 2x2 blocks average; each output pixel is the mean of the input pixels whose centres it covers.
  tensor sq = tensor::empty({3, 8, 8});
  for (std::int64_t i = 0; i < sq.numel(); ++i) sq.data<float>()[i] = static_cast<float>(i % 7);
  const tensor half = serve::resample_image(sq, 4);
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 4; ++x) {
        double s = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) s += sq.data<float>()[(c * 8 + 2 * y + dy) * 8 + 2 * x + dx];
        EXPECT_FLOAT_EQ(half.data<float>()[(c * 4 + y) * 4 + x], static_cast<float>(s / 4)) << c << " " << y << " " << x;
      }
  // Upsampling takes the nearest pixel.
  const tensor up = serve::resample_image(half, 8);
  for (std::int64_t y = 0; y < 8; ++y) EXPECT_EQ(up.data<float>()[y * 8 + 5], half.data<float>()[(y / 2) * 4 + 2]);
}

TEST_F(serve_vlm, the_pope_suite_against_lmlab_serve_matches_the_model_in_process) {
  EXPECT_TRUE(serve::is_vlm_checkpoint_dir(*work_ / "vlm-ck"));
  EXPECT_EQ(model_->name, "vlm-ck");
  EXPECT_EQ(model_->lm->max_images(), 1);
  EXPECT_EQ(model_->tok->kind(), "scene_words");
  EXPECT_EQ(model_->tok->decode(model_->tok->encode("is there a circle ?")), "is there a circle ?");
  // POPE's wording and the suite's object names read as the words the model was trained on.
  EXPECT_EQ(*model_->lm->chat_prompt({{"user", "Is there a horizontal bar in the image? Answer yes or no."}}), "is there a hbar ?");
  EXPECT_EQ(*model_->lm->chat_prompt({{"system", "be brief"}, {"user", "What colour is the ring?"}}), "what colour is the ring ?");


  probe::run_options opt;
  opt.suites = {"pope"};
  opt.suite_opts.n = 6;
  opt.suite_opts.seed = 7;
  opt.concurrency = 2;
  opt.output_dir = *work_ / "out";
  probe::endpoint_config cfg;
  cfg.base_url = srv_->base_url();
  cfg.provider = "lmlab";
  cfg.model = model_->name;
  cfg.timeout_s = 60;
  cfg.max_retries = 0;
  store::results_store db(*work_ / "lmlab.db");
  probe::run_summary sum;
  {
    probe::client c(cfg, &db);
    sum = probe::run_probe(c, db, opt);
  }
  EXPECT_EQ(sum.n_failed, 0);
  EXPECT_EQ(srv_->stats().errors_5xx.load(), 0);
  EXPECT_EQ(sum.results["config"]["capabilities"]["preferred"], "chat");
  const auto items = probe::find_suite("pope").build(opt.suite_opts);
  ASSERT_EQ(sum.n_samples, static_cast<std::int64_t>(items.size()));

  // The same answers in-process: decode the item's PNG, resample to the canvas, argmax at "?".
  const vlm::loaded_vlm v = vlm::load_vlm(*work_ / "vlm-ck");
  std::map<std::string, bool> said;
  std::map<std::string, vlm::pope_counts> counts;
  no_grad ng;
  for (const auto& it : items) {
    const tensor img = vlm::decode_png(vlm::decode_data_uri(it.messages[0].image_urls.at(0)), 1 << 20);
    ASSERT_EQ(img.size(1), 192);
    const tensor small = serve::resample_image(img, 24);
    // The 8x upscale comes back exactly: the resampled image is the scene's PNG-quantised pixels.
    const vlm::scene s = vlm::make_scene([] { vlm::scene_config c; c.canvas = 24; return c; }(), 7, it.doc["scene"].get<std::uint64_t>());
    const tensor q = vlm::decode_png(vlm::encode_png(s.image), 1 << 20);
    for (std::int64_t i = 0; i < q.numel(); ++i) ASSERT_NEAR(small.data<float>()[i], q.data<float>()[i], 1e-6) << it.id;
    std::string obj = it.doc["object"];
    if (obj == "horizontal bar") obj = "hbar";
    if (obj == "vertical bar") obj = "vbar";
    const auto ids = vlm::encode_words("is there a " + obj + " ?");
    const tensor feats = v.model->vision.forward(small.view_raw({1, 3, 24, 24}));
    const tensor lg = v.model->logits(feats, tensor::from<std::int32_t>({1, static_cast<std::int64_t>(ids.size())}, ids)).contiguous_raw();
    const std::int64_t V = lg.size(2), last = lg.size(1) - 1;
    const float* row = lg.data<float>() + last * V;
    const auto best = static_cast<std::int32_t>(std::max_element(row, row + V) - row);
    said[it.id] = probe::pope_said_yes(vlm::vocabulary()[static_cast<std::size_t>(best)]);
    counts[it.doc["setting"]].add(it.doc["truth"].get<bool>(), said[it.id]);
  }
  ASSERT_EQ(sum.sample_files.size(), 1u);
  std::ifstream in(sum.sample_files[0]);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    const auto s = json::parse(line);
    ASSERT_FALSE(s.contains("error")) << line;
    const std::string text = s["resps"][0][0];
    EXPECT_EQ(vlm::encode_words(text).size(), 1u) << "one scene word per answer: '" << text << "'";
    EXPECT_EQ(s["said_yes"].get<bool>(), said.at(s["doc_id"])) << s["doc_id"] << " answered '" << text << "'";
  }
  EXPECT_EQ(n, items.size());
  const json& r = sum.results["results"]["pope"];
  for (const auto& [setting, c] : counts) {
    const vlm::pope_metrics m = vlm::pope_score(c);
    EXPECT_DOUBLE_EQ(r[setting + "_f1,none"].get<double>(), m.f1) << setting;
    EXPECT_DOUBLE_EQ(r[setting + "_accuracy,none"].get<double>(), m.accuracy) << setting;
    EXPECT_DOUBLE_EQ(r[setting + "_yes_ratio,none"].get<double>(), m.yes_ratio) << setting;
  }
  EXPECT_EQ(counts.size(), 3u);
}

TEST_F(serve_vlm, bad_images_get_a_400_json_error_and_the_server_goes_on) {
  const vlm::scene s = vlm::make_scene([] { vlm::scene_config c; c.canvas = 24; return c; }(), 1, 0);
  const std::string good = vlm::png_data_uri(s.image);
  std::string png = vlm::encode_png(s.image);
  std::string bad_crc = png;
  bad_crc[png.size() - 20] ^= 0x40;  // inside IDAT: its CRC no longer matches
  tensor big = tensor::zeros({3, 200, 200});
  const std::string jpg = vlm::encode_jpeg(s.image, 95);
  struct bad_case {
    std::vector<std::string> urls;
    std::string code;
  };
  const std::vector<bad_case> cases = {
      {{"data:image/png;base64,iVBOR!!!"}, "invalid_image_url"},
      {{"https://example.com/cat.png"}, "invalid_image_url"},
      {{"data:image/gif;base64," + vlm::base64("abc")}, "invalid_image_url"},
      {{"data:image/jpeg;base64," + vlm::base64("abc")}, "invalid_image"},
      {{"data:image/jpeg;base64," + vlm::base64(jpg.substr(0, jpg.size() / 2))}, "invalid_image"},  // truncated
      {{"data:image/jpeg;base64," + vlm::base64(vlm::encode_jpeg(big, 90))}, "image_too_large"},
      {{"data:image/png;base64," + vlm::base64("hello, not a png")}, "invalid_image"},
      {{"data:image/png;base64," + vlm::base64(bad_crc)}, "invalid_image"},
      {{"data:image/png;base64," + vlm::base64(png.substr(0, png.size() / 2))}, "invalid_image"},
      {{vlm::png_data_uri(big)}, "image_too_large"},
  };
  for (const auto& c : cases) {
    const reply r = post(srv_->port(), chat_with(c.urls));
    EXPECT_EQ(r.status, 400) << c.urls[0].substr(0, 40);
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], c.code) << r.body.dump();
    EXPECT_EQ(r.body["error"]["type"], "invalid_request_error");
    EXPECT_NE(r.body["error"]["param"].get<std::string>().find("messages[0].content[1]"), std::string::npos) << r.body.dump();
  }
  // Two images, and an image part without a URL.
  EXPECT_EQ(post(srv_->port(), chat_with({good, good})).status, 400);
  json no_url = chat_with({});
  no_url["messages"][0]["content"].push_back({{"type", "image_url"}, {"image_url", 5}});
  const reply r = post(srv_->port(), no_url);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "invalid_image_url") << r.body.dump();
  // A part of another type: the error names both forms this model reads.
  json odd = chat_with({});
  odd["messages"][0]["content"].push_back({{"type", 5}});
  const reply ro = post(srv_->port(), odd);
  EXPECT_EQ(ro.status, 400);
  EXPECT_NE(ro.body["error"]["message"].get<std::string>().find("\"image_url\""), std::string::npos) << ro.body.dump();
  // A good image is answered with one scene word, and deterministically.
  const reply ok = post(srv_->port(), chat_with({good}));
  ASSERT_EQ(ok.status, 200) << ok.body.dump();
  const std::string text = ok.body["choices"][0]["message"]["content"];
  EXPECT_EQ(vlm::encode_words(text).size(), 1u) << text;
  EXPECT_EQ(post(srv_->port(), chat_with({good})).body["choices"][0]["message"]["content"], text);
  // The same scene as a JPEG data URI is read too.
  const reply oj = post(srv_->port(), chat_with({"data:image/jpeg;base64," + vlm::base64(jpg)}));
  ASSERT_EQ(oj.status, 200) << oj.body.dump();
  EXPECT_EQ(vlm::encode_words(oj.body["choices"][0]["message"]["content"]).size(), 1u);
}

TEST(serve_vlm_text_model, a_text_only_model_refuses_images) {
  serve::fixture::tiny_checkpoint ck;
  serve::fixture::make_tiny_checkpoint(ck, "User: Is there a circle in the image?\nAssistant: yes\n", "lmlab_serve_vlm_text", "tiny-gpt", 96, 2);
  auto model = serve::load_served_model(ck.dir);
  serve::server_options so;
  so.port = 0;
  serve::server srv(model, so);
  srv.start();
  const vlm::scene s = vlm::make_scene(vlm::scene_config{}, 1, 0);
  const reply r = post(srv.port(), chat_with({vlm::png_data_uri(s.image)}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "images_not_supported") << r.body.dump();
  EXPECT_EQ(post(srv.port(), chat_with({})).status, 200);
  srv.stop();
}

}  // namespace

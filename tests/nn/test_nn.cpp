// nn: parameter paths, hook points, initialisation, safetensors reading/writing and its errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/fs.hpp"
#include "nn/init.hpp"
#include "nn/module.hpp"
#include "nn/safetensors.hpp"
#include "../error_of.hpp"
#include "../temp_path.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

struct inner : nn::module {
  inner() {
    register_module("proj", proj);
    register_hook_point("hook_out", hook_out);
  }
  nn::linear proj{3, 2};
  nn::hook_point hook_out;
};

struct outer : nn::module {
  outer() {
    w = register_parameter("w", tensor::zeros({2, 2}));
    for (int i = 0; i < 2; ++i) layers.push_back(std::make_unique<inner>());
    register_module("layers", layers);
    register_module("norm", norm);
    finalize_names();
  }
  tensor w;
  nn::module_list<inner> layers;
  nn::layer_norm norm{2};
};

fs::path temp_dir(const std::string& name) { return lmlab::testing::fresh_dir("nn", name); }

using lmlab::testing::error_of;

}  // namespace

TEST(module, parameters_have_pytorch_style_paths_in_registration_order) {
  outer m;
  std::vector<std::string> names;
  for (auto& [n, t] : m.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"w", "layers.0.proj.weight", "layers.0.proj.bias", "layers.1.proj.weight",
                                             "layers.1.proj.bias", "norm.weight", "norm.bias"}));
  EXPECT_EQ(m.parameter("layers.1.proj.weight").name(), "layers.1.proj.weight");
  EXPECT_EQ(m.num_parameters(), 4 + 2 * (6 + 2) + 4);
  EXPECT_TRUE(m.parameter("norm.bias").requires_grad());
  EXPECT_NE(error_of([&] { m.parameter("layers.2.proj.weight"); }).find("no parameter named 'layers.2.proj.weight'"),
            std::string::npos);
}

TEST(module, hook_points_are_named_and_can_observe_or_replace) {
  outer m;
  auto hooks = m.hook_points();
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(hooks[0]->name(), "layers.0.hook_out");
  nn::hook_point& h = m.find_hook("layers.1.hook_out");
  tensor x = tensor::from<float>({2}, {1.f, 2.f});
  EXPECT_EQ(h(x).to_vector(), x.to_vector());  // no hooks: identity
  int seen = 0;
  int id = h.add([&](const tensor& a, const nn::hook_point& where) {
    ++seen;
    EXPECT_EQ(where.name(), "layers.1.hook_out");
    return tensor{};
  });
  h.add([](const tensor& a, const nn::hook_point&) { return tensor::from<float>({2}, {5.f, 6.f}); });
  EXPECT_EQ(h(x).to_vector(), (std::vector<double>{5, 6}));
  EXPECT_EQ(seen, 1);
  h.remove(id);
  h.add([](const tensor&, const nn::hook_point&) { return tensor::zeros({3}); });
  EXPECT_NE(error_of([&] { h(x); }).find("layers.1.hook_out: a hook returned shape [3]"), std::string::npos);
  m.clear_hooks();
  EXPECT_FALSE(h.active());
  EXPECT_NE(error_of([&] { m.find_hook("layers.0.hook_in"); }).find("no hook point named 'layers.0.hook_in'"),
            std::string::npos);
}

TEST(init, normal_is_a_pure_function_of_seed_and_stream) {
  tensor a = tensor::zeros({1000}), b = tensor::zeros({1000}), c = tensor::zeros({1000});
  nn::init_normal(a, 0, 0.02, 7, nn::stream_of("wte.weight"));
  nn::init_normal(b, 0, 0.02, 7, nn::stream_of("wte.weight"));
  nn::init_normal(c, 0, 0.02, 7, nn::stream_of("wpe.weight"));
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
  double s = 0, s2 = 0;
  for (double v : a.to_vector()) s += v, s2 += v * v;
  EXPECT_NEAR(s / 1000, 0, 0.002);
  EXPECT_NEAR(std::sqrt(s2 / 1000), 0.02, 0.002);
}

TEST(safetensors, round_trip_keeps_names_dtypes_shapes_values_and_metadata) {
  auto d = temp_dir("rt");
  tensor a = tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  tensor b = tensor::from<std::int32_t>({4}, {-1, 0, 7, 1 << 30});
  tensor c = tensor::from<double>({1}, {0.1});
  tensor t = a.transpose_raw(0, 1);  // a non-contiguous view is written row-major
  nn::save_safetensors(d / "x.safetensors", {{"a", a}, {"b", b}, {"c", c}, {"t", t}}, {{"format", "pt"}});
  auto f = nn::safetensors_file::load(d / "x.safetensors");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b", "c", "t"}));
  EXPECT_EQ(f.get("a", {2, 3}, dtype::f32).values<float>(), a.values<float>());
  EXPECT_EQ(f.get("b", {4}, dtype::i32).values<std::int32_t>(), b.values<std::int32_t>());
  EXPECT_EQ(f.get("c").values<double>(), (std::vector<double>{0.1}));
  EXPECT_EQ(f.get("t").to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // Byte layout: 8-byte little-endian header length, data 8-byte aligned.
  auto bytes = read_binary_file(d / "x.safetensors");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 24 + 16 + 8 + 24);
  fs::remove_all(d);
}

TEST(safetensors, errors_name_the_file_and_the_tensor) {
  auto d = temp_dir("err");
  const fs::path p = d / "w.safetensors";
  nn::save_safetensors(p, {{"wte.weight", tensor::zeros({4, 2})}, {"ln.bias", tensor::zeros({2}, dtype::f64)}});
  auto f = nn::safetensors_file::load(p);
  EXPECT_EQ(error_of([&] { f.get("wpe.weight"); }), p.string() + ": missing tensor 'wpe.weight'");
  EXPECT_EQ(error_of([&] { f.get("wte.weight", {4, 3}, dtype::f32); }),
            p.string() + ": tensor 'wte.weight' has shape [4, 2], expected [4, 3]");
  EXPECT_EQ(error_of([&] { f.get("ln.bias", {2}, dtype::f32); }), p.string() + ": tensor 'ln.bias' has dtype F64, expected F32");
  // Truncated: cut inside the data of the last tensor.
  auto bytes = read_binary_file(p);
  {
    std::ofstream out(d / "cut.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size() - 4));
  }
  std::string e = error_of([&] { nn::safetensors_file::load(d / "cut.safetensors"); });
  EXPECT_NE(e.find((d / "cut.safetensors").string() + ": truncated: tensor '"), std::string::npos) << e;
  // Cut inside the header.
  {
    std::ofstream out(d / "cut2.safetensors", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), 20);
  }
  e = error_of([&] { nn::safetensors_file::load(d / "cut2.safetensors"); });
  EXPECT_NE(e.find("cut2.safetensors: truncated: the header declares"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(safetensors, load_parameters_checks_every_parameter) {
  auto d = temp_dir("lp");
  outer a, b;
  nn::init_normal(a.parameter("layers.1.proj.weight"), 0, 1, 3, 4);
  nn::save_safetensors(d / "m.safetensors", a.named_parameters());
  nn::load_parameters(b, nn::safetensors_file::load(d / "m.safetensors"));
  EXPECT_EQ(b.parameter("layers.1.proj.weight").to_vector(), a.parameter("layers.1.proj.weight").to_vector());
  auto params = a.named_parameters();
  params.pop_back();  // drop norm.bias
  nn::save_safetensors(d / "short.safetensors", params);
  EXPECT_NE(error_of([&] { nn::load_parameters(b, nn::safetensors_file::load(d / "short.safetensors")); })
                .find("short.safetensors: missing tensor 'norm.bias'"),
            std::string::npos);
  params = a.named_parameters();
  params.emplace_back("extra", tensor::zeros({1}));
  nn::save_safetensors(d / "long.safetensors", params);
  EXPECT_NE(error_of([&] { nn::load_parameters(b, nn::safetensors_file::load(d / "long.safetensors")); })
                .find("unexpected tensor 'extra'"),
            std::string::npos);
  fs::remove_all(d);
}

namespace {
// A safetensors file from a header text, its declared length (default: its size) and data bytes.
std::vector<std::uint8_t> st_bytes(const std::string& header, std::size_t data, std::int64_t length_delta = 0) {
  std::vector<std::uint8_t> out(8 + header.size() + data, 0);
  const std::uint64_t n = header.size() + static_cast<std::uint64_t>(length_delta);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < data; ++i) out[8 + header.size() + i] = static_cast<std::uint8_t>(i + 1);
  return out;
}
// The header of two F32 tensors of shape [2], "a" at data bytes [a0, a1) and "b" at [b0, b1).
std::string two_f32(int a0, int a1, int b0, int b1) {
  const auto entry = [](const char* name, int lo, int hi) {
    return std::string("\"") + name + R"(":{"dtype":"F32","shape":[2],"data_offsets":[)" + std::to_string(lo) + "," +
           std::to_string(hi) + "]}";
  };
  return "{" + entry("a", a0, a1) + "," + entry("b", b0, b1) + "}";
}

std::string st_error(const std::vector<std::uint8_t>& b) {
  return error_of([&] { nn::safetensors_file::parse(b, "w.st"); });
}
}  // namespace

TEST(safetensors, tensors_must_tile_the_data_section_exactly) {
  // These loaded with exit 0 and produced garbage weights: a header length off by one, shifted,
  // overlapping or gapped data_offsets. The offsets must cover the data section exactly.
  const std::string two = two_f32(0, 8, 8, 16) + "  ";
  EXPECT_NO_THROW(nn::safetensors_file::parse(st_bytes(two, 16), "w.st"));
  EXPECT_EQ(st_error(st_bytes(two, 16, -1)), "w.st: the data section has 17 bytes but the tensors cover 16");
  EXPECT_EQ(st_error(st_bytes(two, 17)), "w.st: the data section has 17 bytes but the tensors cover 16");
  EXPECT_EQ(st_error(st_bytes(two_f32(0, 8, 7, 15), 15)), "w.st: tensor 'b' (data bytes [7, 15)) overlaps tensor 'a' ([0, 8))");
  EXPECT_EQ(st_error(st_bytes(two_f32(0, 8, 0, 8), 8)), "w.st: tensor 'b' (data bytes [0, 8)) overlaps tensor 'a' ([0, 8))");
  EXPECT_EQ(st_error(st_bytes(two_f32(1, 9, 9, 17), 17)), "w.st: data bytes [0, 1) before tensor 'a' belong to no tensor");
  EXPECT_EQ(st_error(st_bytes(two_f32(0, 8, 9, 17), 17)), "w.st: data bytes [8, 9) before tensor 'b' belong to no tensor");
  EXPECT_EQ(st_error(st_bytes(" {}", 0)), "w.st: the safetensors header (3 bytes) does not start with '{'");
  // A shape whose byte size wraps to the span it claims (2^62 x 4 x 4 bytes = 0 mod 2^64).
  const std::string wrap = R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})";
  EXPECT_EQ(st_error(st_bytes(wrap, 0)),
            "w.st: tensor 'a': shape [4611686018427387904,4]: size overflow: 4 x 4611686018427387904 does not fit in 64 "
            "bits");
}

TEST(safetensors, f16_and_bf16_load_as_f32) {
  // Hugging Face checkpoints hold F16/BF16; the one reader widens them (and checks their
  // offsets like any other dtype: 2 bytes per element).
  const std::string h = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  auto bytes = st_bytes(h, 8);
  const std::size_t d = 8 + h.size();
  const std::uint8_t data[8] = {0x00, 0x3c, 0x00, 0xc0,   // F16 1.0, -2.0
                                0x80, 0x3f, 0x40, 0x40};  // BF16 1.0, 3.0
  std::memcpy(bytes.data() + d, data, 8);
  const auto f = nn::safetensors_file::parse(bytes, "w.st");
  EXPECT_EQ(f.get("a").type(), dtype::f32);
  EXPECT_EQ(f.get("a").to_vector(), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(f.get("b").to_vector(), (std::vector<double>{1.0, 3.0}));
  const std::string wrong = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(st_error(st_bytes(wrong, 8)), "w.st: tensor 'a' has 8 bytes of data but shape [2] F16 needs 4");
}

// nn: the GGUF reader and writer (every metadata type, alignment, tensor data, the
// stories260K file of shared/models read and rewritten byte for byte) and its errors on
// truncated and corrupt files; F16/BF16 conversion and Q8_0/Q4_0/Q4_K/Q6_K blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../shared_models.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "nn/gguf.hpp"
#include "nn/quant.hpp"

using namespace lmlab;
using nn::gguf_type;
using nn::gguf_value;
using nn::ggml_type;

namespace {

// A small file with one key of every scalar type, arrays, and three tensors of three types.
std::vector<std::uint8_t> small_file() {
  nn::gguf_builder b;
  b.set("general.architecture", gguf_value::str("llama"));
  gguf_value v;
  const gguf_type scalars[] = {gguf_type::u8,  gguf_type::i8,  gguf_type::u16, gguf_type::i16, gguf_type::u32, gguf_type::i32,
                               gguf_type::u64, gguf_type::i64, gguf_type::boolean};
  for (auto t : scalars) {
    v = gguf_value{};
    v.type = t;
    v.i = t == gguf_type::i8 || t == gguf_type::i16 || t == gguf_type::i32 || t == gguf_type::i64 ? -5 : 1;
    b.set(std::string("test.") + nn::gguf_type_name(t), v);
  }
  b.set("test.f32", gguf_value::f32(0.25f));
  v = gguf_value{};
  v.type = gguf_type::f64;
  v.f = -1.5;
  b.set("test.f64", v);
  b.set("test.strings", gguf_value::str_array({"a", "", "\xe2\x96\x81x"}));
  b.set("test.ints", gguf_value::int_array(gguf_type::i32, {1, -2, 3}));
  b.set("test.floats", gguf_value::float_array({0.5, -0.25}));
  std::vector<float> x(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.1f + 2.0f * std::cos(static_cast<float>(i));
  b.add_tensor("a", {4, 2}, ggml_type::f32, nn::ggml_encode(std::span<const float>(x.data(), 8), ggml_type::f32));
  b.add_tensor("b", {32, 2}, ggml_type::q8_0, nn::ggml_encode(x, ggml_type::q8_0));
  b.add_tensor("c", {3}, ggml_type::f16, nn::ggml_encode(std::span<const float>(x.data(), 3), ggml_type::f16));
  return b.encode();
}

std::string parse_error(std::span<const std::uint8_t> bytes) {
  try {
    nn::gguf_file::parse(bytes, "t.gguf");
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(gguf, small_file_round_trips_every_value_type) {
  const auto bytes = small_file();
  auto f = nn::gguf_file::parse(bytes, "t.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("test.int8"), -5);
  EXPECT_EQ(f.get_int("test.uint64"), 1);
  EXPECT_EQ(f.get_int("test.bool"), 1);
  EXPECT_EQ(f.get_float("test.f32", 0), 0.25);
  EXPECT_EQ(f.get_float("test.f64", 0), -1.5);
  EXPECT_EQ(f.get_array("test.strings", gguf_type::string).strs[2], "\xe2\x96\x81x");
  EXPECT_EQ(f.get_array("test.ints", gguf_type::i32).ints[1], -2);
  EXPECT_EQ(f.get_array("test.floats", gguf_type::f32).floats[1], -0.25);
  ASSERT_EQ(f.tensors().size(), 3u);
  tensor a = f.tensor_f32("a");
  EXPECT_EQ(a.shape(), (shape_t{2, 4}));
  EXPECT_FLOAT_EQ(a.data<float>()[5], 0.1f + 2.0f * std::cos(5.0f));
  tensor c = f.tensor_f32("c");
  EXPECT_NEAR(c.data<float>()[2], 0.1f + 2.0f * std::cos(2.0f), 2e-3);
  // Rewriting what was read gives the same bytes.
  nn::gguf_builder b;
  for (const auto& [k, v] : f.metadata()) b.set(k, v);
  for (const auto& t : f.tensors()) {
    auto s = f.tensor_bytes(t);
    b.add_tensor(t.name, t.ne, t.type, {s.begin(), s.end()});
  }
  EXPECT_EQ(b.encode(), bytes);
}

TEST(gguf, version_2_reads_like_version_3) {
  auto bytes = small_file();
  bytes[4] = 2;  // v2 and v3 share the layout (v3 added big-endian files, which lmlab refuses)
  auto f = nn::gguf_file::parse(bytes, "t.gguf");
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.tensors().size(), 3u);
  bytes[4] = 0;
  bytes[7] = 3;  // a byte-swapped version: a big-endian file
  EXPECT_NE(parse_error(bytes).find("header.version at byte 4"), std::string::npos) << parse_error(bytes);
}

TEST(gguf, every_prefix_of_a_small_file_is_rejected_with_an_offset) {
  const auto bytes = small_file();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::string e = parse_error(std::span<const std::uint8_t>(bytes.data(), n));
    ASSERT_FALSE(e.empty()) << "prefix of " << n << " bytes was accepted";
    ASSERT_NE(e.find("t.gguf: "), std::string::npos) << e;
    ASSERT_TRUE(e.find("byte") != std::string::npos) << n << ": " << e;
  }
}

// Deterministic byte mutations of a small file (a fuzzing smoke test; the reliability issue
// runs a real fuzzer): each either parses, with every tensor readable inside the buffer, or is
// an lmlab::error naming the source, never another exception or a crash.
TEST(gguf, mutated_files_parse_or_fail_cleanly) {
  const auto good = small_file();
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int parsed = 0, rejected = 0;
  for (int k = 0; k < 3000; ++k) {
    auto b = good;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int i = 0; i < flips; ++i) b[next() % b.size()] = static_cast<std::uint8_t>(next());
    try {
      auto f = nn::gguf_file::parse(b, "m.gguf");
      for (const auto& t : f.tensors()) {
        auto span = f.tensor_bytes(t);
        ASSERT_GE(span.data(), b.data());
        ASSERT_LE(span.data() + span.size(), b.data() + b.size());
        if (nn::ggml_type_loadable(t.type)) f.tensor_f32(t.name);
      }
      ++parsed;
    } catch (const error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("m.gguf: ", 0), 0u) << e.what();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(parsed, 0);  // flips inside tensor data or string bytes leave a valid file
}

TEST(gguf, corrupt_fields_are_named) {
  const auto good = small_file();
  auto at = [&](const std::string& needle) {
    auto it = std::search(good.begin(), good.end(), needle.begin(), needle.end());
    EXPECT_NE(it, good.end());
    return static_cast<std::size_t>(it - good.begin());
  };
  {
    auto b = good;
    b[0] = 'X';
    EXPECT_NE(parse_error(b).find("not a GGUF file"), std::string::npos);
  }
  {
    auto b = good;
    b[4] = 1;
    EXPECT_NE(parse_error(b).find("header.version at byte 4: version 1 is not supported"), std::string::npos) << parse_error(b);
  }
  {
    auto b = good;  // a metadata count that would overflow any size computation
    const std::uint64_t huge = ~0ull;
    std::memcpy(b.data() + 16, &huge, 8);
    EXPECT_NE(parse_error(b).find("header.metadata_kv_count at byte 16"), std::string::npos) << parse_error(b);
  }
  {
    auto b = good;  // the value type of general.architecture flipped to 99
    const std::size_t p = at("general.architecture") + 20;
    b[p] = 99;
    EXPECT_NE(parse_error(b).find("kv[0].type at byte " + std::to_string(p) + ": unknown value type 99"), std::string::npos)
        << parse_error(b);
  }
  {
    auto b = good;  // tensor "b" (after its name: n_dims, ne0, ne1, type)
    const std::size_t p = at(std::string("\x01\x00\x00\x00\x00\x00\x00\x00" "b", 9)) + 9;
    b[p + 4 + 16] = 77;
    EXPECT_NE(parse_error(b).find("tensor[1] (b).type at byte " + std::to_string(p + 20) + ": unknown ggml type 77"), std::string::npos)
        << parse_error(b);
    b = good;
    const std::uint64_t huge = 1ull << 62;
    std::memcpy(b.data() + p + 12, &huge, 8);
    EXPECT_NE(parse_error(b).find("tensor[1] (b).ne[1] at byte " + std::to_string(p + 12) + ": dimension"), std::string::npos)
        << parse_error(b);
    b = good;
    const std::uint64_t big = 1ull << 40;  // fits the count, not the file
    std::memcpy(b.data() + p + 12, &big, 8);
    EXPECT_NE(parse_error(b).find("runs past the end of the file"), std::string::npos) << parse_error(b);
    b = good;
    b[p] = 9;
    EXPECT_NE(parse_error(b).find("n_dims at byte " + std::to_string(p) + ": 9 is not in 1..4"), std::string::npos) << parse_error(b);
    b = good;
    b[p + 24] = 3;  // an offset off the alignment
    EXPECT_NE(parse_error(b).find("is not a multiple of the alignment 32"), std::string::npos) << parse_error(b);
  }
  {
    auto b = good;  // a string length near 2^64
    const std::size_t p = at("general.architecture") - 8;
    const std::uint64_t huge = ~0ull - 3;
    std::memcpy(b.data() + p, &huge, 8);
    EXPECT_NE(parse_error(b).find("kv[0].key at byte 24: string length 18446744073709551612 runs past the end"), std::string::npos) << parse_error(b);
  }
}

TEST(gguf, unsupported_types_are_named) {
  nn::gguf_builder b;
  b.add_tensor("q", {256}, ggml_type::q2_k, std::vector<std::uint8_t>(84));
  const auto bytes = b.encode();
  auto f = nn::gguf_file::parse(bytes, "t.gguf");
  try {
    f.tensor_f32("q");
    FAIL() << "Q2_K was dequantised";
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "t.gguf: tensor q: type Q2_K is not supported");
  }
}

TEST(gguf, stories260k_header_and_tensors) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto f = nn::gguf_file::load(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.tensors().size(), 48u);
  EXPECT_EQ(f.data_offset(), 14176u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens", gguf_type::string).strs.size(), 512u);
  EXPECT_EQ(f.find_tensor("blk.0.attn_k.weight")->shape(), (shape_t{32, 64}));
  EXPECT_EQ(f.tensor_f32("token_embd.weight").shape(), (shape_t{512, 64}));
}

TEST(gguf, shared_files_rewrite_byte_for_byte) {
  for (const char* name : {"stories260K.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-phi-3.gguf"}) {
    LMLAB_SHARED_MODEL(path, name);
    const auto orig = read_binary_file(path);
    auto f = nn::gguf_file::parse(orig, path.string());
    nn::gguf_builder b;
    for (const auto& [k, v] : f.metadata()) b.set(k, v);
    for (const auto& t : f.tensors()) {
      auto s = f.tensor_bytes(t);
      b.add_tensor(t.name, t.ne, t.type, {s.begin(), s.end()});
    }
    const auto again = b.encode();
    ASSERT_EQ(again.size(), orig.size()) << name;
    EXPECT_TRUE(again == orig) << name;
  }
}

// ---- number formats --------------------------------------------------------------------

TEST(quant, half_and_bf16_conversions) {
  for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f})
    EXPECT_EQ(nn::half_to_float(nn::float_to_half(v)), v) << v;
  EXPECT_EQ(nn::float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(nn::float_to_half(65520.0f), 0x7C00);              // rounds to inf
  EXPECT_EQ(nn::float_to_half(1.0f + 0x1p-11f), 0x3C00);       // tie -> even
  EXPECT_EQ(nn::float_to_half(1.0f + 3 * 0x1p-11f), 0x3C02);   // tie -> even (up)
  EXPECT_TRUE(std::isnan(nn::half_to_float(nn::float_to_half(NAN))));
  EXPECT_EQ(nn::float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(nn::bf16_to_float(nn::float_to_bf16(-3.140625f)), -3.140625f);
  // Every half bit pattern that is not NaN survives half -> float -> half.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;
    ASSERT_EQ(nn::float_to_half(nn::half_to_float(static_cast<std::uint16_t>(h))), h) << h;
  }
}

// ref: llama.cpp tests/test-quantize-fns.cpp: synthetic data 0.1 + 2 cos(i + offset) over
// 32*128 values; "total error" sqrt(sum (x - deq(q(x)))^2) / n <= 0.002 for 4- and 8-bit
// types; dot-product error |q(x).q8_0(y) - x.y| / n <= 0.02 (y with offset 1).
TEST(quant, q8_0_and_q4_0_meet_llama_cpp_error_bounds) {
  const std::size_t n = 32 * 128;
  std::vector<float> x(n), y(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = 0.1f + 2 * std::cos(static_cast<float>(i));
    y[i] = 0.1f + 2 * std::cos(static_cast<float>(i) + 1.0f);
  }
  std::vector<float> yq(n);
  nn::dequantize_q8_0(nn::quantize_q8_0(y).data(), yq.data(), static_cast<std::int64_t>(n));
  double ref = 0;
  for (std::size_t i = 0; i < n; ++i) ref += static_cast<double>(x[i]) * y[i];
  for (auto t : {ggml_type::q8_0, ggml_type::q4_0}) {
    std::vector<float> xq(n);
    const auto q = t == ggml_type::q8_0 ? nn::quantize_q8_0(x) : nn::quantize_q4_0(x);
    ASSERT_EQ(q.size(), n / 32 * (t == ggml_type::q8_0 ? 34 : 18));
    (t == ggml_type::q8_0 ? nn::dequantize_q8_0 : nn::dequantize_q4_0)(q.data(), xq.data(), static_cast<std::int64_t>(n));
    double se = 0, dot = 0;
    for (std::size_t i = 0; i < n; ++i) {
      se += (x[i] - xq[i]) * static_cast<double>(x[i] - xq[i]);
      dot += static_cast<double>(xq[i]) * yq[i];
    }
    const double total = std::sqrt(se) / static_cast<double>(n), dot_err = std::fabs(dot - ref) / static_cast<double>(n);
    EXPECT_LE(total, 0.002) << nn::ggml_type_name(static_cast<std::uint32_t>(t));
    EXPECT_LE(dot_err, 0.02) << nn::ggml_type_name(static_cast<std::uint32_t>(t));
    // Per element: Q8_0 is within half a step of d = max|x|/127; Q4_0 within one step of d = max/8.
    const double step = t == ggml_type::q8_0 ? 2.1 / 127 : 2.1 / 8;
    for (std::size_t i = 0; i < n; ++i) ASSERT_LE(std::fabs(x[i] - xq[i]), step * (t == ggml_type::q8_0 ? 0.5 : 1.0) + 1e-3) << i;
  }
}

TEST(quant, q4_0_block_layout) {
  // Values -8d..7d in order: the largest magnitude is -8 (at index 0), so d = -8/-8 = 1.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i % 16 - 8);
  const auto q = nn::quantize_q4_0(x);
  EXPECT_EQ(nn::half_to_float(static_cast<std::uint16_t>(q[0] | (q[1] << 8))), 1.0f);
  EXPECT_EQ(q[2], 0x00);  // x0 = -8 -> 0 (low nibble), x16 = -8 -> 0 (high nibble)
  EXPECT_EQ(q[3], 0x11);
  EXPECT_EQ(q[17], 0xFF);
  std::vector<float> back(32);
  nn::dequantize_q4_0(q.data(), back.data(), 32);
  EXPECT_EQ(back, x);
}

TEST(quant, k_quant_blocks_follow_ggml_layout) {
  // Q6_K: d = 0.5, scales[j] = j + 1, every 6-bit q = 33 (low nibble 1, high bits 2): x = 0.5 * scale * 1.
  std::vector<std::uint8_t> b6(210, 0);
  for (int i = 0; i < 128; ++i) b6[static_cast<std::size_t>(i)] = 0x11;
  for (int i = 0; i < 64; ++i) b6[128 + static_cast<std::size_t>(i)] = 0xAA;
  for (int j = 0; j < 16; ++j) b6[192 + static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(j + 1);
  const std::uint16_t half = nn::float_to_half(0.5f);
  b6[208] = static_cast<std::uint8_t>(half & 0xFF);
  b6[209] = static_cast<std::uint8_t>(half >> 8);
  std::vector<float> y(256);
  nn::dequantize_q6_k(b6.data(), y.data(), 256);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(y[static_cast<std::size_t>(i)], 0.5f * static_cast<float>(i / 16 + 1)) << i;
  // Q4_K: d = 1, dmin = 0.5, sub-block j has scale j+1 and min 2j (six bits, j >= 4 split),
  // q = 3 everywhere: x = (j+1)*3 - 0.5*2j.
  std::vector<std::uint8_t> b4(144, 0);
  const std::uint16_t one = nn::float_to_half(1.0f);
  b4[0] = one & 0xFF;
  b4[1] = one >> 8;
  b4[2] = half & 0xFF;
  b4[3] = half >> 8;
  std::uint8_t* sc = b4.data() + 4;
  for (int j = 0; j < 8; ++j) {
    const int s = j + 1, m = 2 * j;
    if (j < 4) {
      sc[j] = static_cast<std::uint8_t>(s);
      sc[j + 4] = static_cast<std::uint8_t>(m);
    } else {
      sc[j + 4] = static_cast<std::uint8_t>((s & 0xF) | ((m & 0xF) << 4));
      sc[j - 4] = static_cast<std::uint8_t>(sc[j - 4] | ((s >> 4) << 6));
      sc[j] = static_cast<std::uint8_t>(sc[j] | ((m >> 4) << 6));
    }
  }
  for (int i = 0; i < 128; ++i) b4[16 + static_cast<std::size_t>(i)] = 0x33;
  nn::dequantize_q4_k(b4.data(), y.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    ASSERT_EQ(y[static_cast<std::size_t>(i)], static_cast<float>((j + 1) * 3) - 0.5f * static_cast<float>(2 * j)) << i;
  }
  // Q5_K: the same header and scales, then qh[32] whose bit 0 sets the fifth bit of the first
  // 32 values (group 0, low nibbles) and bit 5 that of values 160..191 (group 2, high nibbles).
  std::vector<std::uint8_t> b5(176, 0);
  std::copy(b4.begin(), b4.begin() + 16, b5.begin());
  for (int l = 0; l < 32; ++l) b5[16 + static_cast<std::size_t>(l)] = 0x21;
  for (int i = 0; i < 128; ++i) b5[48 + static_cast<std::size_t>(i)] = 0x33;
  nn::dequantize_q5_k(b5.data(), y.data(), 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32, q = 3 + (j == 0 || j == 5 ? 16 : 0);
    ASSERT_EQ(y[static_cast<std::size_t>(i)], static_cast<float>((j + 1) * q) - 0.5f * static_cast<float>(2 * j)) << i;
  }
}

TEST(quant, q4_1_q5_0_q5_1_blocks_follow_ggml_layout) {
  const auto put16 = [](std::uint8_t* p, float v) {
    const std::uint16_t h = nn::float_to_half(v);
    p[0] = static_cast<std::uint8_t>(h & 0xFF);
    p[1] = static_cast<std::uint8_t>(h >> 8);
  };
  std::vector<float> y(32);
  // Q4_1: d = 0.5, m = -1, low nibble j, high nibble 15 - j.
  std::vector<std::uint8_t> b(20, 0);
  put16(b.data(), 0.5f);
  put16(b.data() + 2, -1.0f);
  for (int j = 0; j < 16; ++j) b[4 + static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  nn::dequantize_q4_1(b.data(), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    ASSERT_EQ(y[static_cast<std::size_t>(j)], 0.5f * static_cast<float>(j) - 1.0f) << j;
    ASSERT_EQ(y[16 + static_cast<std::size_t>(j)], 0.5f * static_cast<float>(15 - j) - 1.0f) << j;
  }
  // Q5_0: d = 1, qh = 0xFFFF0000 (the fifth bit of x16..31), both nibbles j: x_j = j - 16, x_16+j = j.
  b.assign(22, 0);
  put16(b.data(), 1.0f);
  b[4] = b[5] = 0xFF;
  for (int j = 0; j < 16; ++j) b[6 + static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(j | (j << 4));
  nn::dequantize_q5_0(b.data(), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    ASSERT_EQ(y[static_cast<std::size_t>(j)], static_cast<float>(j - 16)) << j;
    ASSERT_EQ(y[16 + static_cast<std::size_t>(j)], static_cast<float>(j)) << j;
  }
  // Q5_1: d = 2, m = 1, qh = 0x0000FFFF: x_j = 2(j + 16) + 1, x_16+j = 2j + 1.
  b.assign(24, 0);
  put16(b.data(), 2.0f);
  put16(b.data() + 2, 1.0f);
  b[4] = b[5] = 0xFF;
  for (int j = 0; j < 16; ++j) b[8 + static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(j | (j << 4));
  nn::dequantize_q5_1(b.data(), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    ASSERT_EQ(y[static_cast<std::size_t>(j)], 2.0f * static_cast<float>(j + 16) + 1.0f) << j;
    ASSERT_EQ(y[16 + static_cast<std::size_t>(j)], 2.0f * static_cast<float>(j) + 1.0f) << j;
  }
}

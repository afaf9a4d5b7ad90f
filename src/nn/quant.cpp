// F16/BF16 conversion and ggml block (de)quantisation: see quant.hpp.
#include "nn/quant.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace lmlab::nn {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  std::uint32_t bits;
  if (exp == 0) {
    if (man == 0) return std::bit_cast<float>(sign);
    // Subnormal half: man * 2^-24, exact in f32.
    const float v = static_cast<float>(man) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) bits = sign | 0x7F800000u | (man << 13);  // inf / NaN
  else bits = sign | ((exp + 112) << 23) | (man << 13);
  return std::bit_cast<float>(bits);
}

std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000);
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 : 0));
  if (ax >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00);  // rounds past 65504
  if (ax < 0x38800000u) {
    // Subnormal half (or zero): round |f| / 2^-24 to the nearest integer, ties to even.
    const float v = std::bit_cast<float>(ax) * 0x1p24f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(v)));
  }
  // Normal: drop 13 mantissa bits with round-to-nearest-even (a carry into the exponent is right).
  const std::uint32_t r = ax + 0xFFFu + ((ax >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | ((r - 0x38000000u) >> 13));
}

float bf16_to_float(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

std::uint16_t float_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40);  // quiet NaN
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

namespace {
std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
void wr16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v & 0xFF);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void check_blocks(std::size_t n, std::int64_t bs, const char* what) {
  LMLAB_CHECK(n % static_cast<std::size_t>(bs) == 0, "{}: {} values are not a multiple of the block size {}", what, n, bs);
}

// x in blocks of k_qk values, each written by encode(values, out) into `block_bytes` bytes.
template <class F>
std::vector<std::uint8_t> quantize_blocks(std::span<const float> x, std::size_t block_bytes, const char* what, F&& encode) {
  check_blocks(x.size(), k_qk, what);
  const std::size_t nb = x.size() / k_qk;
  std::vector<std::uint8_t> out(nb * block_bytes);
  for (std::size_t b = 0; b < nb; ++b) encode(x.data() + b * k_qk, out.data() + b * block_bytes);
  return out;
}
}  // namespace

std::vector<std::uint8_t> quantize_q8_0(std::span<const float> x) {
  return quantize_blocks(x, 34, "quantize_q8_0", [](const float* v, std::uint8_t* o) {
    float amax = 0;
    for (int j = 0; j < k_qk; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    wr16(o, float_to_half(d));
    for (int j = 0; j < k_qk; ++j) o[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(v[j] * id)));
  });
}

void dequantize_q8_0(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk; ++b) {
    const std::uint8_t* p = in + b * 34;
    const float d = half_to_float(rd16(p));
    for (int j = 0; j < k_qk; ++j) y[b * k_qk + j] = d * static_cast<float>(static_cast<std::int8_t>(p[2 + j]));
  }
}

std::vector<std::uint8_t> quantize_q4_0(std::span<const float> x) {
  return quantize_blocks(x, 18, "quantize_q4_0", [](const float* v, std::uint8_t* o) {
    float amax = 0, mx = 0;  // mx: the value of largest magnitude, with its sign
    for (int j = 0; j < k_qk; ++j)
      if (std::fabs(v[j]) > amax) {
        amax = std::fabs(v[j]);
        mx = v[j];
      }
    const float d = mx / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    wr16(o, float_to_half(d));
    for (int j = 0; j < k_qk / 2; ++j) {
      const auto q = [&](float f) { return static_cast<std::uint8_t>(std::min(15, static_cast<int>(static_cast<std::int8_t>(f * id + 8.5f)))); };
      o[2 + j] = static_cast<std::uint8_t>(q(v[j]) | (q(v[j + 16]) << 4));
    }
  });
}

void dequantize_q4_0(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk; ++b) {
    const std::uint8_t* p = in + b * 18;
    const float d = half_to_float(rd16(p));
    for (int j = 0; j < k_qk / 2; ++j) {
      y[b * k_qk + j] = d * static_cast<float>((p[2 + j] & 0xF) - 8);
      y[b * k_qk + j + 16] = d * static_cast<float>((p[2 + j] >> 4) - 8);
    }
  }
}

namespace {
// Q4_K and Q5_K: sub-block j's 6-bit scale and min: j < 4 in the low 6 bits of bytes j and j+4;
// j >= 4 split between the low/high nibble of byte j+4 and the top 2 bits of bytes j-4 / j.
void k_scale_min(const std::uint8_t* sc, int j, int& s, int& m) {
  if (j < 4) {
    s = sc[j] & 63;
    m = sc[j + 4] & 63;
  } else {
    s = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
    m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
  }
}

// Q4_K (qh == nullptr) and Q5_K (qh: the fifth bit of each value, bit 2g / 2g+1 of qh[l] for the
// low / high nibbles of the 64-value group g).
void dequantize_k4_k5(const std::uint8_t* p, const std::uint8_t* q, const std::uint8_t* qh, float* o) {
  const float d = half_to_float(rd16(p)), dmin = half_to_float(rd16(p + 2));
  const std::uint8_t* sc = p + 4;
  for (int g = 0; g < 4; ++g) {  // 64 values share 32 bytes: low nibbles then high
    int s1, m1, s2, m2;
    k_scale_min(sc, 2 * g, s1, m1);
    k_scale_min(sc, 2 * g + 1, s2, m2);
    const float d1 = d * static_cast<float>(s1), n1 = dmin * static_cast<float>(m1);
    const float d2 = d * static_cast<float>(s2), n2 = dmin * static_cast<float>(m2);
    for (int l = 0; l < 32; ++l) {
      const int h1 = qh && (qh[l] >> (2 * g) & 1) ? 16 : 0, h2 = qh && (qh[l] >> (2 * g + 1) & 1) ? 16 : 0;
      o[l] = d1 * static_cast<float>((q[l] & 0xF) + h1) - n1;
      o[32 + l] = d2 * static_cast<float>((q[l] >> 4) + h2) - n2;
    }
    o += 64;
    q += 32;
  }
}
}  // namespace

void dequantize_q4_k(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk_k; ++b) dequantize_k4_k5(in + b * 144, in + b * 144 + 16, nullptr, y + b * k_qk_k);
}

void dequantize_q5_k(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk_k; ++b)
    dequantize_k4_k5(in + b * 176, in + b * 176 + 48, in + b * 176 + 16, y + b * k_qk_k);
}

// Q4_1, Q5_0, Q5_1: x = d*q + m over 32 values, q from a low nibble (x0..15) or a high nibble
// (x16..31) plus, for Q5, a fifth bit from the 32-bit qh (bit j for xj).
void dequantize_q4_1(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk; ++b) {
    const std::uint8_t* p = in + b * 20;
    const float d = half_to_float(rd16(p)), m = half_to_float(rd16(p + 2));
    for (int j = 0; j < k_qk / 2; ++j) {
      y[b * k_qk + j] = d * static_cast<float>(p[4 + j] & 0xF) + m;
      y[b * k_qk + j + 16] = d * static_cast<float>(p[4 + j] >> 4) + m;
    }
  }
}

namespace {
void dequantize_q5(const std::uint8_t* in, float* y, std::int64_t n, bool has_min) {
  const std::int64_t bytes = has_min ? 24 : 22;
  for (std::int64_t b = 0; b < n / k_qk; ++b) {
    const std::uint8_t* p = in + b * bytes;
    const float d = half_to_float(rd16(p)), m = has_min ? half_to_float(rd16(p + 2)) : 0.0f;
    const std::uint8_t* h = p + (has_min ? 4 : 2);
    const std::uint32_t qh = static_cast<std::uint32_t>(h[0]) | (static_cast<std::uint32_t>(h[1]) << 8) |
                             (static_cast<std::uint32_t>(h[2]) << 16) | (static_cast<std::uint32_t>(h[3]) << 24);
    const std::uint8_t* qs = h + 4;
    const int offset = has_min ? 0 : 16;
    for (int j = 0; j < k_qk / 2; ++j) {
      const int x0 = ((qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4)) - offset;
      const int x1 = ((qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - offset;
      y[b * k_qk + j] = d * static_cast<float>(x0) + m;
      y[b * k_qk + j + 16] = d * static_cast<float>(x1) + m;
    }
  }
}
}  // namespace

void dequantize_q5_0(const std::uint8_t* in, float* y, std::int64_t n) { dequantize_q5(in, y, n, false); }
void dequantize_q5_1(const std::uint8_t* in, float* y, std::int64_t n) { dequantize_q5(in, y, n, true); }

void dequantize_q6_k(const std::uint8_t* in, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / k_qk_k; ++b) {
    const std::uint8_t* p = in + b * 210;
    const std::uint8_t* ql = p;
    const std::uint8_t* qh = p + 128;
    const auto* sc = reinterpret_cast<const std::int8_t*>(p + 192);
    const float d = half_to_float(rd16(p + 208));
    float* o = y + b * k_qk_k;
    for (int half = 0; half < 2; ++half) {  // 128 values: ql[64], qh[32], scales[8]
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        o[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        o[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        o[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        o[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      o += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace lmlab::nn

// Number formats of GGUF tensors: IEEE half (F16), bfloat16, and ggml's block quantisations
// with llama.cpp's byte layouts (ggml-common.h):
//   Q8_0  32 values: f16 d, int8 q[32]                      x = d*q            (34 bytes)
//   Q4_0  32 values: f16 d, u8 q[16] (low nibbles: x0..15,  x = d*(q - 8)      (18 bytes)
//         high nibbles: x16..31)
//   Q4_1  32 values: f16 d, f16 m, u8 q[16] (nibbles as Q4_0)  x = d*q + m   (20 bytes)
//   Q5_0  32 values: f16 d, u32 qh (bit j: fifth bit of xj), u8 q[16]  x = d*(q - 16)  (22 bytes)
//   Q5_1  32 values: f16 d, f16 m, u32 qh, u8 q[16]            x = d*q + m     (24 bytes)
//   Q4_K 256 values: f16 d, f16 dmin, u8 scales[12] (8 six-bit scales and mins), u8 q[128]:
//         x = d*sc_j*q - dmin*m_j for sub-block j of 32                         (144 bytes)
//   Q5_K 256 values: as Q4_K with u8 qh[32] (fifth bits) before q[128]          (176 bytes)
//   Q6_K 256 values: u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), int8 scales[16],
//         f16 d: x = d*scale_j*(q - 32) for sub-block j of 16                    (210 bytes)
// Quantisers exist for Q8_0 and Q4_0 (llama.cpp's reference rounding: Q8_0 d = max|x|/127,
// q = round(x/d); Q4_0 d = m/-8 where m is the value of largest magnitude, q = min(15,
// trunc(x/d + 8.5))); k-quants are read-only here.
// Not for: matmul on quantised blocks (weights are dequantised to f32 on load).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lmlab::nn {

float half_to_float(std::uint16_t h);
std::uint16_t float_to_half(float f);  // round to nearest even; overflow -> inf
float bf16_to_float(std::uint16_t h);
std::uint16_t float_to_bf16(float f);  // round to nearest even (NaN stays NaN)

constexpr std::int64_t k_qk = 32;    // values per Q8_0/Q4_0 block
constexpr std::int64_t k_qk_k = 256; // values per k-quant super-block

// x.size() must be a multiple of the block size; out has x.size()/32 blocks.
std::vector<std::uint8_t> quantize_q8_0(std::span<const float> x);
std::vector<std::uint8_t> quantize_q4_0(std::span<const float> x);
// `in` holds n/block blocks; y has n values.
void dequantize_q8_0(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q4_0(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q4_1(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q5_0(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q5_1(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q4_k(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q5_k(const std::uint8_t* in, float* y, std::int64_t n);
void dequantize_q6_k(const std::uint8_t* in, float* y, std::int64_t n);

}  // namespace lmlab::nn

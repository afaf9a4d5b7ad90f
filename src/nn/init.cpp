// Philox-based initialisers: see init.hpp.
#include "nn/init.hpp"

#include "core/rng.hpp"

namespace lmlab::nn {

namespace {
template <class F>
void fill_with(const tensor& t, const char* op, F&& draw) {
  LMLAB_CHECK(t.is_contiguous(), "{}: tensor of shape {} is not contiguous", op, shape_str(t.shape()));
  dispatch_float(t.type(), op, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(draw());
  });
}
}  // namespace

void init_normal(const tensor& t, double mean, double std, std::uint64_t seed, std::uint64_t stream) {
  rng r(seed, stream);
  fill_with(t, "init_normal", [&] { return mean + std * r.normal(); });
}

void init_uniform(const tensor& t, double lo, double hi, std::uint64_t seed, std::uint64_t stream) {
  rng r(seed, stream);
  fill_with(t, "init_uniform", [&] { return lo + (hi - lo) * r.uniform(); });
}

std::uint64_t stream_of(const std::string& path) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace lmlab::nn

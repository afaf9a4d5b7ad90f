#include "core/tensor.hpp"

#include <gtest/gtest.h>

using lmlab::tensor;

TEST(tensor, views_share_storage_and_index_correctly) {
  tensor x = tensor::from<float>({2, 3}, {0, 1, 2, 3, 4, 5});
  tensor t = x.transpose_raw(0, 1);
  EXPECT_EQ(t.shape(), (lmlab::shape_t{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at({2, 1}), 5.0);
  EXPECT_EQ(t.at({1, 0}), 1.0);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  tensor c = t.contiguous_raw();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.same_storage(x));
  tensor n = x.narrow_raw(1, 1, 2);
  EXPECT_EQ(n.to_vector(), (std::vector<double>{1, 2, 4, 5}));
  EXPECT_TRUE(n.same_storage(x));
  tensor v = x.view_raw({3, -1});
  EXPECT_EQ(v.shape(), (lmlab::shape_t{3, 2}));
  n.fill_(9);
  EXPECT_EQ(x.to_vector(), (std::vector<double>{0, 9, 9, 3, 9, 9}));
}

TEST(tensor, copy_converts_and_respects_layout) {
  tensor x = tensor::from<double>({2, 2}, {1.5, 2.5, 3.5, 4.5});
  tensor y = tensor::empty({2, 2}, lmlab::dtype::f32);
  y.transpose_raw(0, 1).copy_from(x);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, 3.5, 2.5, 4.5}));
  EXPECT_EQ(x.to_raw(lmlab::dtype::i32).values<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 3, 4}));
}

TEST(tensor, errors_name_the_problem) {
  tensor x = tensor::zeros({2, 3});
  try {
    x.view_raw({4, 2});
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "view: shape [4, 2] does not match 6 elements of [2, 3]");
  }
  EXPECT_THROW(x.transpose_raw(0, 1).view_raw({6}), lmlab::error);
  EXPECT_THROW(x.data<double>(), lmlab::error);
  EXPECT_THROW(x.item(), lmlab::error);
}

TEST(tensor, pool_reuses_freed_blocks) {
  auto before = lmlab::memory_pool_stats();
  { tensor a = tensor::empty({1000, 37}); }
  { tensor b = tensor::empty({1000, 37}); }
  auto after = lmlab::memory_pool_stats();
  EXPECT_EQ(after.allocations - before.allocations, 2u);
  EXPECT_GE(after.reuses - before.reuses, 1u);
}

TEST(tensor, pool_cache_is_bounded_when_sizes_never_recur) {
  // A buffer regrown one step at a time (a KV cache concatenated per token): each size is
  // freed once and never asked for again. The cache keeps at most max(64 MiB, peak live).
  lmlab::memory_pool_release_cached();
  const auto before = lmlab::memory_pool_stats();
  tensor keep = tensor::empty({1});
  for (std::int64_t mib = 1; mib <= 48; ++mib) {
    tensor grown = tensor::empty({mib << 18});  // mib MiB of f32
    keep = grown;                               // the previous buffer dies here
  }
  keep = tensor{};
  const auto after = lmlab::memory_pool_stats();
  EXPECT_LE(after.bytes_cached, std::max(lmlab::kPoolMinCache, after.peak_live));
  EXPECT_GT(after.released, before.released);  // 1 + 2 + ... + 48 MiB would be 1.2 GiB cached
  // Blocks under the limit are still reused.
  { tensor a = tensor::empty({1000, 37}); }
  const auto r0 = lmlab::memory_pool_stats().reuses;
  { tensor b = tensor::empty({1000, 37}); }
  EXPECT_EQ(lmlab::memory_pool_stats().reuses, r0 + 1);
}

TEST(tensor, compare_reports_worst_element) {
  tensor a = tensor::from<float>({3}, {1.0f, 2.0f, 3.5f});
  tensor b = tensor::from<float>({3}, {1.0f, 2.1f, 3.0f});
  auto r = lmlab::compare(a, b, 1e-3, 1e-3);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.worst_index, 2);
  EXPECT_TRUE(lmlab::compare(a, a, 0, 0).ok);
}

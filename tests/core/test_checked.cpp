// Sizes from files and flags: checked arithmetic, tensor shapes and allocations whose size
// does not fit (they used to wrap and allocate a small block that was then written past), the
// live-memory limit, and running a program without a shell.
#include "core/checked.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

#include "../error_of.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "core/tensor.hpp"

using lmlab::tensor;
namespace fs = std::filesystem;

using lmlab::testing::error_of;

TEST(checked, overflow_is_an_error_naming_what) {
  EXPECT_EQ(lmlab::checked_mul<std::uint64_t>(1ull << 31, 1ull << 32, "x"), 1ull << 63);
  EXPECT_EQ(error_of([] { lmlab::checked_mul<std::uint64_t>(1ull << 63, 2, "tokens.bin: id count"); }),
            "tokens.bin: id count: size overflow: 9223372036854775808 x 2 does not fit in 64 bits");
  EXPECT_EQ(error_of([] { lmlab::checked_add<std::int64_t>(std::numeric_limits<std::int64_t>::max(), 1, "n"); }),
            "n: size overflow: 9223372036854775807 + 1 does not fit in 64 bits");
  EXPECT_EQ(lmlab::checked_cast<std::int32_t>(std::int64_t{-5}, "id"), -5);
  EXPECT_EQ(error_of([] { lmlab::checked_cast<std::int32_t>(std::int64_t{1} << 40, "id"); }),
            "id: 1099511627776 is out of range for a 32-bit signed integer");
  EXPECT_EQ(error_of([] { lmlab::checked_cast<std::uint32_t>(-1, "vocab"); }),
            "vocab: -1 is out of range for a 32-bit unsigned integer");
}

TEST(checked, tensor_shapes_whose_size_wraps_are_errors) {
  // 2^62 x 4 elements wrapped to 0 and "succeeded"; 2^62 f32 elements wrapped to 0 bytes.
  EXPECT_EQ(error_of([] { tensor::empty({std::int64_t{1} << 62, 4}); }),
            "tensor: shape [4611686018427387904, 4] has more elements than fit in 64 bits");
  EXPECT_EQ(error_of([] { tensor::empty({std::int64_t{1} << 62}); }),
            "tensor: allocation size: size overflow: 4611686018427387904 x 4 does not fit in 64 bits");
  EXPECT_EQ(error_of([] { tensor::zeros({128, std::numeric_limits<std::int64_t>::max()}); }),
            "tensor: shape [128, 9223372036854775807] has more elements than fit in 64 bits");
  // No elements, but the strides overflowed (UBSan in fuzz_safetensors, 2026-12-07).
  EXPECT_EQ(error_of([] { tensor::empty({0, 4222222222222, 4222222222222222}); }),
            "tensor: shape [0, 4222222222222, 4222222222222222] has strides that do not fit in 64 bits");
}

TEST(checked, allocation_past_the_memory_limit_is_an_error) {
  struct restore {
    ~restore() { lmlab::set_tensor_memory_limit(0); }
  } r;
  EXPECT_GT(lmlab::tensor_memory_limit(), std::size_t{1} << 24);  // the machine's memory
  const auto live = lmlab::memory_pool_stats().bytes_live;
  lmlab::set_tensor_memory_limit(live + (std::size_t{1} << 20));
  EXPECT_NO_THROW(tensor::empty({1 << 16}));  // 256 KiB
  const std::string msg = error_of([] { tensor::empty({1 << 20}); });  // 4 MiB
  EXPECT_EQ(msg.rfind("tensor: out of memory: a 4 MiB tensor on top of ", 0), 0u) << msg;
  EXPECT_NE(msg.find(" live exceeds the limit of "), std::string::npos) << msg;
  // Far past any machine: the limit, not malloc, answers.
  lmlab::set_tensor_memory_limit(0);
  EXPECT_EQ(error_of([] { tensor::empty({std::int64_t{1} << 50}); }).rfind("tensor: out of memory: a 4 PiB tensor", 0),
            0u);
  EXPECT_EQ(lmlab::format_bytes(512), "512 B");
  EXPECT_EQ(lmlab::format_bytes(1.5 * 1073741824.0), "1.5 GiB");
}

TEST(process, arguments_are_never_run_by_a_shell) {
  // `lab suite --out "x'; touch FILE; echo '"` ran `touch` through std::system.
  const fs::path dir = fs::temp_directory_path() / ("lmlab_process_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path pwned = dir / "pwned", out = dir / "out.txt";
  const std::string hostile = "x'; touch " + pwned.string() + "; echo '";
  EXPECT_EQ(lmlab::run_process({"/bin/echo", hostile}, out.string()), 0);
  EXPECT_FALSE(fs::exists(pwned));
  EXPECT_EQ(lmlab::read_text_file(out), hostile + "\n");
  EXPECT_EQ(lmlab::run_process({"/bin/sh", "-c", "exit 3"}), 3);
  EXPECT_EQ(lmlab::run_process({"/bin/sh", "-c", "kill -9 $$"}), 128 + 9);
  EXPECT_EQ(error_of([] { lmlab::run_process({"/nonexistent/prog"}); }),
            "/nonexistent/prog: cannot start: No such file or directory");
  fs::remove_all(dir);
}

TEST(checked, fits_reports_overflow_without_throwing) {
  std::uint64_t out = 0;
  EXPECT_TRUE(lmlab::mul_fits(std::uint64_t{1} << 31, std::uint64_t{1} << 32, out));
  EXPECT_EQ(out, std::uint64_t{1} << 63);
  EXPECT_FALSE(lmlab::mul_fits(std::uint64_t{1} << 32, std::uint64_t{1} << 32, out));
  EXPECT_TRUE(lmlab::add_fits(UINT64_MAX - 1, std::uint64_t{1}, out));
  EXPECT_FALSE(lmlab::add_fits(UINT64_MAX, std::uint64_t{1}, out));
  std::int32_t small = 0;
  EXPECT_FALSE(lmlab::mul_fits(65536, 32768, small));  // 2^31 does not fit a signed 32-bit int
}

// Issue 12: the default limit follows the cgroup (a container, a Slurm job), not only the
// machine's RAM. A fake cgroup tree: v2 with a limit on the parent, v1 with one on the group.
TEST(checked, cgroup_memory_limit_reads_v2_and_v1_and_takes_the_smallest_on_the_path) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("lmlab_cgroup_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto write = [](const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  };
  write(root / "a" / "memory.max", "2147483648\n");
  write(root / "a" / "b" / "memory.max", "max\n");
  EXPECT_EQ(lmlab::cgroup_memory_limit("0::/a/b\n", root.string()), std::size_t{2147483648});
  write(root / "a" / "b" / "memory.max", "1048576\n");
  EXPECT_EQ(lmlab::cgroup_memory_limit("0::/a/b\n", root.string()), std::size_t{1048576});
  // v1: the memory controller's line; "no limit" is a huge page-rounded number.
  write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n");
  write(root / "memory" / "job" / "memory.limit_in_bytes", "536870912\n");
  EXPECT_EQ(lmlab::cgroup_memory_limit("4:memory:/job\n1:cpu:/\n", root.string()), std::size_t{536870912});
  EXPECT_EQ(lmlab::cgroup_memory_limit("4:cpu,memory:/\n", root.string()), SIZE_MAX);
  // Nothing readable, garbage or no memory controller: no limit.
  EXPECT_EQ(lmlab::cgroup_memory_limit("", root.string()), SIZE_MAX);
  EXPECT_EQ(lmlab::cgroup_memory_limit("garbage\n3:pids:/a\n", root.string()), SIZE_MAX);
  write(root / "c" / "memory.max", "12abc\n");
  EXPECT_EQ(lmlab::cgroup_memory_limit("0::/c", root.string()), SIZE_MAX);
  fs::remove_all(root);
  // The default never exceeds the machine's memory.
  EXPECT_LE(lmlab::tensor_memory_limit(), static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE));
}

// Threads: see threads.hpp.
#include "core/threads.hpp"

#include <dlfcn.h>
#include <omp.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace lmlab {

// One knob for both pools. OpenBLAS (pthread build) keeps its own pool, which fights our
// OpenMP threads on a 2-vCPU machine when both are busy; the OpenMP builds of BLIS/OpenBLAS
// share our pool. The BLAS-specific setters are looked up at run time so that this file
// compiles against any CBLAS, and core links none.
void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  using set_int = void (*)(int);
  using set_i64 = void (*)(std::int64_t);
  if (auto f = reinterpret_cast<set_int>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
  if (auto f = reinterpret_cast<set_i64>(dlsym(RTLD_DEFAULT, "bli_thread_set_num_threads"))) f(n);
}

int num_threads() { return omp_get_max_threads(); }

// OpenMP wait policy. libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, in its own
// constructor, before main(); the only way to change them for this process is to set them and
// exec again. An earlier version set the variable from the executable's .preinit_array: libgomp
// then displayed PASSIVE (omp_display_env prints PASSIVE for "unset" too) but kept
// GOMP_SPINCOUNT = 300000, i.e. its default spinning, and 2-thread training on a 2-vCPU machine
// with the other vCPU busy ran at half the speed of an exported OMP_WAIT_POLICY=passive
// (RetNet, 150 steps: 15.2-17.7k vs 33.1-35.2k tok/s). A spinning thread holds its vCPU while
// the thread it waits for is descheduled; passive threads sleep on a futex at once.
bool reexec_with_passive_omp_wait(const char* exe, char* const argv[]) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if ((policy && *policy) || std::getenv("GOMP_SPINCOUNT")) return false;  // the user chose
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return false;
  ::execv(exe, argv);
  return false;  // exec failed: run on (children started from here inherit the variable)
}

}  // namespace lmlab

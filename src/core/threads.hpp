// Threads for the whole process: how many OpenMP and BLAS threads the kernels use, and the
// OpenMP wait policy, which must be chosen before libgomp loads (hence the re-exec). In core
// so that the trainer, the lab and the CLI set threads without depending on ops.
// Not for: parallel loops themselves (the kernels' OpenMP pragmas, ops/).
#pragma once

namespace lmlab {

void set_num_threads(int n);    // OpenMP threads, and the BLAS's own where it has a setter
int num_threads();

// When the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT: sets OMP_WAIT_POLICY=passive
// and execs `exe` with `argv` again, so that libgomp (which reads the variables once, when it
// loads) sleeps instead of spinning in idle worker threads. Returns false without exec'ing when
// the user chose a policy; on success it does not return. Call first thing in main().
bool reexec_with_passive_omp_wait(const char* exe, char* const argv[]);

}  // namespace lmlab

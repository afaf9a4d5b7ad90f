// Data-parallel training over MPI: `mpirun -np P lmlab train ...` runs P copies of the model,
// each on 1/P of every global batch (rows rank*B/P .. (rank+1)*B/P - 1), and averages their
// gradients before each optimizer step, so P ranks take the same steps as one process with
// the whole batch (to within float reduction order). Gradients travel in buckets (about
// bucket_bytes each, parameters in reverse order, the order backward finishes them): a
// bucket's nonblocking MPI_Iallreduce starts as soon as its last gradient is final in
// backward (autograd/grad_hook.hpp) and is waited for only after backward, so communication
// overlaps the rest of backward. ref: Li et al. 2020, "PyTorch Distributed", VLDB, 3.2.3
// (bucketing, overlap). Each step records compute, communication and the exposed (not hidden)
// communication, for bench/dp_bench and `lmlab train`'s summary.
// Built with MPI when CMake finds it (-DLMLAB_MPI=ON, the default then); without it, or when
// not launched by mpirun, the group has one rank and nothing here communicates.
// Not for: model or tensor parallelism, ZeRO (optimizer state stays replicated).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::train {

struct dp_step_stats {
  double compute_s = 0;        // forward + backward (from the step's start to backward's end)
  double comm_s = 0;           // sum over buckets of (start of its all-reduce .. seen complete);
                               // with overlap the buckets' intervals overlap each other
  double exposed_s = 0;        // after backward, waiting for the all-reduces: not hidden
  int buckets = 0;
  int started_in_backward = 0; // buckets whose all-reduce started before backward ended
  std::size_t bytes = 0;       // gradient bytes all-reduced per rank
};

class data_parallel {
 public:
  // The process group: MPI_COMM_WORLD when built with MPI and launched by mpirun (MPI is
  // initialised on first use and finalised at exit), else a group of one.
  static data_parallel& world();
  static bool built_with_mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Buckets `params` (in reverse order, closing a bucket at bucket_bytes). overlap = false
  // starts every all-reduce after backward instead (to measure what overlap hides).
  void attach(const std::vector<tensor>& params, std::size_t bucket_bytes, bool overlap = true);
  // Marks the start of a step's compute (forward).
  void begin_step();
  // From backward: the leaf's gradient is final; starts its bucket's all-reduce when complete.
  void grad_ready(tensor_impl& leaf);
  // After backward: starts what has not started, waits, writes the averaged gradients back.
  // Returns the local loss averaged over ranks.
  float finish_step(float local_loss);
  const dp_step_stats& last_stats() const { return stats_; }
  // Every step's stats since attach (bench/dp_bench takes medians: a loaded machine has outliers).
  const std::vector<dp_step_stats>& history() const { return history_; }

  // Every rank gets rank 0's bytes (e.g. a check that all ranks run the same config).
  void broadcast(std::vector<std::uint8_t>& bytes);
  void barrier();
  // Mean seconds of one blocking all-reduce of `bytes` (f32 sum) over `repeats`, after a warm-up
  // (bench/dp_bench fits the alpha-beta model's latency and bandwidth with it).
  double time_allreduce(std::size_t bytes, int repeats);
  // Ends every rank at once (MPI_Abort): for an error on one rank, which would otherwise leave
  // the others waiting in an all-reduce. Without MPI, exits.
  [[noreturn]] void abort(int code);

  data_parallel(const data_parallel&) = delete;
  data_parallel& operator=(const data_parallel&) = delete;
  ~data_parallel();

 private:
  data_parallel();
  struct bucket;
  void start(bucket& b);
  void progress();

  int rank_ = 0, size_ = 1;
  bool overlap_ = true;
  std::vector<tensor> params_;
  std::vector<std::unique_ptr<bucket>> buckets_;
  std::vector<int> bucket_of_;                 // per parameter
  std::vector<std::pair<const tensor_impl*, int>> index_;  // sorted by impl: parameter index
  dp_step_stats stats_;
  std::vector<dp_step_stats> history_;
  double step_start_ = 0;
};

// The rows [rank*B/P, (rank+1)*B/P) of a (B, T) batch; B must divide by P (error naming B and P).
tensor local_rows(const tensor& batch, int rank, int size);

}  // namespace lmlab::train

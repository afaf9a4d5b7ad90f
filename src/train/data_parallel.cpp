// Data-parallel training over MPI: see data_parallel.hpp. Only the main thread calls MPI
// (MPI_THREAD_FUNNELED): backward runs its hook on the thread that called backward.
#include "train/data_parallel.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"

#if LMLAB_HAVE_MPI
// The C API only: Open MPI's and MPICH's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace lmlab::train {

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Launched by mpirun (Open MPI, or MPICH/PMI): only then is MPI initialised, so that a plain
// `lmlab train` never pays for it or depends on a working MPI runtime.
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}
}  // namespace

struct data_parallel::bucket {
  std::vector<int> params;           // parameter indices
  std::vector<std::size_t> offsets;  // element offset of each in buf
  std::vector<float> buf;
  int pending = 0;                   // gradients not yet final this step
  bool started = false, done = false;
  double t_start = 0, t_done = 0;
#if LMLAB_HAVE_MPI
  MPI_Request req = MPI_REQUEST_NULL;
#endif
};

bool data_parallel::built_with_mpi() {
#if LMLAB_HAVE_MPI
  return true;
#else
  return false;
#endif
}

data_parallel& data_parallel::world() {
  static data_parallel w;
  return w;
}

data_parallel::data_parallel() {
#if LMLAB_HAVE_MPI
  if (!launched_by_mpirun()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#endif
}

data_parallel::~data_parallel() {
#if LMLAB_HAVE_MPI
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Finalize();
#endif
}

void data_parallel::attach(const std::vector<tensor>& params, std::size_t bucket_bytes, bool overlap) {
  params_ = params;
  overlap_ = overlap;
  history_.clear();
  buckets_.clear();
  bucket_of_.assign(params.size(), -1);
  index_.clear();
  for (std::size_t i = 0; i < params.size(); ++i) {
    LMLAB_CHECK(params[i].type() == dtype::f32, "data parallel: parameter {} is not f32", params[i].impl().name);
    index_.emplace_back(&params[i].impl(), static_cast<int>(i));
  }
  std::sort(index_.begin(), index_.end());
  // Reverse order: backward finishes the last layers' gradients first.
  std::size_t fill = 0;
  for (std::size_t k = params.size(); k-- > 0;) {
    if (buckets_.empty() || fill >= bucket_bytes) {
      buckets_.push_back(std::make_unique<bucket>());
      fill = 0;
    }
    bucket& b = *buckets_.back();
    b.params.push_back(static_cast<int>(k));
    b.offsets.push_back(b.buf.size());
    b.buf.resize(b.buf.size() + static_cast<std::size_t>(params[k].numel()));
    fill += static_cast<std::size_t>(params[k].numel()) * sizeof(float);
    bucket_of_[k] = static_cast<int>(buckets_.size() - 1);
  }
}

void data_parallel::begin_step() {
  stats_ = {};
  step_start_ = now();
  for (auto& b : buckets_) {
    b->pending = static_cast<int>(b->params.size());
    b->started = b->done = false;
  }
}

void data_parallel::start(bucket& b) {
  for (std::size_t j = 0; j < b.params.size(); ++j) {
    const tensor& p = params_[static_cast<std::size_t>(b.params[j])];
    float* dst = b.buf.data() + b.offsets[j];
    const auto n = static_cast<std::size_t>(p.numel());
    const auto& g = p.impl().grad;
    if (!g) {
      std::fill(dst, dst + n, 0.0f);  // no gradient on this rank (e.g. an unrouted expert)
      continue;
    }
    tensor gt(g);
    LMLAB_ASSERT(gt.is_contiguous() && gt.numel() == p.numel(), "data parallel: gradient of {} is not contiguous",
                 p.impl().name);
    std::memcpy(dst, gt.data<float>(), n * sizeof(float));
  }
  b.started = true;
  b.t_start = now();
#if LMLAB_HAVE_MPI
  MPI_Iallreduce(MPI_IN_PLACE, b.buf.data(), static_cast<int>(b.buf.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &b.req);
#endif
}

// Lets MPI move started all-reduces along (a single-threaded MPI progresses only inside calls).
void data_parallel::progress() {
#if LMLAB_HAVE_MPI
  for (auto& b : buckets_) {
    if (!b->started || b->done) continue;
    int flag = 0;
    MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      b->done = true;
      b->t_done = now();
    }
  }
#endif
}

void data_parallel::grad_ready(tensor_impl& leaf) {
  if (size_ == 1) return;
  auto it = std::lower_bound(index_.begin(), index_.end(), std::pair<const tensor_impl*, int>(&leaf, -1));
  if (it == index_.end() || it->first != &leaf) return;  // not a parameter we average
  bucket& b = *buckets_[static_cast<std::size_t>(bucket_of_[static_cast<std::size_t>(it->second)])];
  if (--b.pending == 0 && overlap_) start(b);
  progress();
}

float data_parallel::finish_step(float local_loss) {
  const double t_backward_end = now();
  stats_.compute_s = t_backward_end - step_start_;
  if (size_ == 1) return local_loss;
  for (auto& b : buckets_) {
    if (b->started) ++stats_.started_in_backward;
    else start(*b);
  }
  double loss_sum = local_loss;
#if LMLAB_HAVE_MPI
  for (auto& b : buckets_) {
    if (b->done) continue;
    MPI_Wait(&b->req, MPI_STATUS_IGNORE);
    b->done = true;
    b->t_done = now();
  }
  double local = local_loss;
  MPI_Allreduce(&local, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
  stats_.exposed_s = now() - t_backward_end;
  const float scale = 1.0f / static_cast<float>(size_);
  for (auto& b : buckets_) {
    stats_.comm_s += b->t_done - b->t_start;
    stats_.bytes += b->buf.size() * sizeof(float);
    for (std::size_t j = 0; j < b->params.size(); ++j) {
      tensor_impl& p = params_[static_cast<std::size_t>(b->params[j])].impl();
      const float* src = b->buf.data() + b->offsets[j];
      const auto n = static_cast<std::size_t>(tensor(params_[static_cast<std::size_t>(b->params[j])]).numel());
      if (!p.grad) {
        // No rank had a gradient: leave it absent, as a single process would.
        if (std::all_of(src, src + n, [](float v) { return v == 0.0f; })) continue;
        p.grad = tensor::zeros(p.shape, dtype::f32).impl_ptr();
      }
      float* dst = tensor(p.grad).data<float>();
      for (std::size_t e = 0; e < n; ++e) dst[e] = src[e] * scale;
    }
  }
  stats_.buckets = static_cast<int>(buckets_.size());
  history_.push_back(stats_);
  return static_cast<float>(loss_sum / size_);
}

void data_parallel::broadcast(std::vector<std::uint8_t>& bytes) {
  if (size_ == 1) return;
#if LMLAB_HAVE_MPI
  long long n = static_cast<long long>(bytes.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  bytes.resize(static_cast<std::size_t>(n));
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
#endif
}

void data_parallel::barrier() {
#if LMLAB_HAVE_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

double data_parallel::time_allreduce(std::size_t bytes, int repeats) {
  if (size_ == 1 || repeats < 1) return 0;
  std::vector<float> buf(std::max<std::size_t>(1, bytes / sizeof(float)), 1.0f);
#if LMLAB_HAVE_MPI
  const int n = static_cast<int>(buf.size());
  MPI_Allreduce(MPI_IN_PLACE, buf.data(), n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);  // warm-up
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = now();
  for (int r = 0; r < repeats; ++r) MPI_Allreduce(MPI_IN_PLACE, buf.data(), n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  return (now() - t0) / repeats;
#else
  return 0;
#endif
}

void data_parallel::abort(int code) {
#if LMLAB_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

tensor local_rows(const tensor& batch, int rank, int size) {
  if (size == 1) return batch;
  const std::int64_t B = batch.size(0), T = batch.size(1);
  LMLAB_CHECK_HINT(B % size == 0, "make train.batch_size a multiple of the number of ranks (mpirun -np)",
                   "data parallel: batch size {} does not split over {} ranks", B, size);
  const std::int64_t b = B / size;
  tensor c = batch.contiguous_raw();
  const auto* src = c.data<std::int32_t>() + rank * b * T;
  return tensor::from<std::int32_t>({b, T}, std::span<const std::int32_t>(src, static_cast<std::size_t>(b * T)));
}

}  // namespace lmlab::train

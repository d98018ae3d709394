// The processes of an MPI job (train/distributed.h has the scheme). The only file of the library
// that calls MPI; built without it (VAE_MPI off) every function describes one process alone.
#include "train/distributed.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "vae/error.h"

#ifdef VAE_MPI
#include <mpi.h>
#endif

namespace vae {

int shard_owner(int shard, int shards, int ranks) {
  VAE_ASSERT(ranks >= 1 && ranks <= shards && shard >= 0 && shard < shards);
  // The last rank whose first shard is at or before `shard`.
  int r = static_cast<int>(static_cast<long long>(shard) * ranks / shards);
  while (r + 1 < ranks && first_shard(r + 1, shards, ranks) <= shard) ++r;
  while (first_shard(r, shards, ranks) > shard) --r;
  return r;
}

int rank_shards(int batch, bool free_bits) {
  const int shards = free_bits ? 1 : distributed_shards(batch);
  if (world_size() > shards)
    throw FieldError("batch_size",
                     std::to_string(batch) + " rows" +
                         (free_bits ? " with free bits make one shard"
                                    : " split into " + std::to_string(shards) + " shard" +
                                          (shards == 1 ? "" : "s") + " (one per " +
                                          std::to_string(kMinRowsPerShard) + " rows, at most " +
                                          std::to_string(kMaxShards) + ")") +
                         ", fewer than the " + std::to_string(world_size()) +
                         " ranks; use a larger batch or fewer ranks");
  return shards;
}

ItemRange rank_items(size_t count, size_t group, int rank, int ranks) {
  VAE_ASSERT(group >= 1 && ranks >= 1 && rank >= 0 && rank < ranks);
  const size_t groups = (count + group - 1) / group;
  const auto first_group = [&](int r) {
    return groups * static_cast<size_t>(r) / static_cast<size_t>(ranks);
  };
  return {std::min(count, first_group(rank) * group),
          std::min(count, first_group(rank + 1) * group)};
}

ItemRange own_items(size_t count, size_t group, bool over_ranks) {
  return over_ranks ? rank_items(count, group, world_rank(), world_size()) : ItemRange{0, count};
}

void share_rank_items(void* data, size_t count, size_t group, size_t item_bytes) {
  const int ranks = world_size();
  if (ranks == 1) return;
  auto* bytes = static_cast<char*>(data);
  for (int q = 0; q < ranks; ++q) {
    const ItemRange held = rank_items(count, group, q, ranks);
    broadcast_bytes(bytes + held.lo * item_bytes, (held.hi - held.lo) * item_bytes, q);
  }
}

double distributed_timeout_seconds() {
  const char* v = std::getenv("VAE_MPI_TIMEOUT");
  if (v && *v) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end && *end == '\0' && s > 0) return s;
  }
  return 20.0;
}

bool distributed_overlap() {
  const char* v = std::getenv("VAE_MPI_OVERLAP");
  if (v && std::strcmp(v, "0") == 0) return false;
  if (v && std::strcmp(v, "1") == 0) return true;
  return !ranks_share_one_node();
}

#ifndef VAE_MPI

struct BroadcastQueue::Requests {};
BroadcastQueue::BroadcastQueue() = default;
BroadcastQueue::~BroadcastQueue() = default;
void BroadcastQueue::post(void*, size_t, int) {}
void BroadcastQueue::progress() {}
void BroadcastQueue::wait() {}

bool distributed_built() { return false; }
void distributed_init(int*, char***) {}
void distributed_finalize() {}
int world_rank() { return 0; }
int world_size() { return 1; }
bool ranks_share_one_node() { return true; }
bool distributed() { return false; }
void broadcast_bytes(void*, size_t, int) {}
bool any_rank(bool flag) { return flag; }
long long min_over_ranks(long long value) { return value; }
std::string agree_ready(const std::string& error, int* failed) {
  *failed = 0;
  return error;
}
void abort_ranks(int) {}
double collective_seconds() { return 0; }

#else

namespace {

bool started = false;  // distributed_init started MPI
int rank_ = 0, size_ = 1;
bool one_node_ = true;  // every rank on one machine (shares memory with rank 0)

// The watchdog: a thread that ends the process when a collective has waited longer than the
// limit (a rank was killed, or hangs). wait_start_ns is the steady-clock time a collective
// began, 0 outside collectives.
std::atomic<long long> wait_start_ns{0};
std::atomic<bool> watchdog_stop{false};
long long collective_ns = 0;  // total time inside collectives (collective_seconds)
std::thread watchdog;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void watch(double limit_s) {
  while (!watchdog_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long long t0 = wait_start_ns.load();
    if (t0 == 0 || static_cast<double>(now_ns() - t0) * 1e-9 < limit_s) continue;
    char line[200];
    const int n = std::snprintf(line, sizeof line,
                                "vae: rank %d: no answer from the other ranks for %.0f s (a rank "
                                "stopped or was killed); stopping\n",
                                rank_, limit_s);
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, line, static_cast<size_t>(n));
    ::_exit(1);
  }
}

// While true, collectives are not watched: agree_ready waits for every rank to read its data,
// however long that takes (a launcher notices a rank that dies meanwhile).
bool unwatched = false;

// Marks the span of one collective for the watchdog.
class Waiting {
 public:
  Waiting() : t0_(now_ns()) {
    if (!unwatched) wait_start_ns.store(t0_);
  }
  ~Waiting() {
    collective_ns += now_ns() - t0_;
    wait_start_ns.store(0);
  }
  Waiting(const Waiting&) = delete;
  Waiting& operator=(const Waiting&) = delete;

 private:
  long long t0_;
};

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string("rank ") + std::to_string(rank_) + ": " + what + " failed (" +
              std::string(text, static_cast<size_t>(len)) + "); another rank has stopped");
}

// The number of ranks on this rank's machine (those that share memory with it).
int node_size() {
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
      MPI_SUCCESS)
    return 1;
  int n = 1;
  MPI_Comm_size(node, &n);
  MPI_Comm_free(&node);
  return n;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

bool distributed_built() { return true; }

void distributed_init(int* argc, char*** argv) {
  if (started || !launched_by_mpi()) return;
  // Only the main thread calls MPI (the training steps' worker threads never do).
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return;
  started = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  one_node_ = node_size() == size_;
  if (size_ > 1) watchdog = std::thread(watch, distributed_timeout_seconds());
}

void distributed_finalize() {
  if (!started) return;
  watchdog_stop.store(true);
  if (watchdog.joinable()) watchdog.join();
  MPI_Finalize();
  started = false;
}

int world_rank() { return rank_; }
int world_size() { return size_; }
bool ranks_share_one_node() { return one_node_; }
bool distributed() { return started; }

void broadcast_bytes(void* data, size_t bytes, int root) {
  if (size_ == 1 || bytes == 0) return;
  const Waiting w;
  auto* p = static_cast<char*>(data);
  // MPI counts are int: large buffers go in pieces of at most 1 GiB.
  for (size_t done = 0; done < bytes;) {
    const int n = static_cast<int>(std::min<size_t>(bytes - done, size_t{1} << 30));
    check(MPI_Bcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "a broadcast");
    done += static_cast<size_t>(n);
  }
}

struct BroadcastQueue::Requests {
  std::vector<MPI_Request> posted;
};

BroadcastQueue::BroadcastQueue() : requests_(std::make_unique<Requests>()) {}
BroadcastQueue::~BroadcastQueue() = default;

void BroadcastQueue::post(void* data, size_t bytes, int root) {
  if (size_ == 1 || bytes == 0) return;
  const Waiting w;
  auto* p = static_cast<char*>(data);
  for (size_t done = 0; done < bytes;) {  // int counts: pieces of at most 1 GiB
    const int n = static_cast<int>(std::min<size_t>(bytes - done, size_t{1} << 30));
    MPI_Request r;
    check(MPI_Ibcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD, &r), "a broadcast");
    requests_->posted.push_back(r);
    done += static_cast<size_t>(n);
  }
}

void BroadcastQueue::progress() {
  std::vector<MPI_Request>& posted = requests_->posted;
  if (posted.empty()) return;
  const Waiting w;
  int all_done = 0;
  check(MPI_Testall(static_cast<int>(posted.size()), posted.data(), &all_done,
                    MPI_STATUSES_IGNORE),
        "a broadcast");
  if (all_done) posted.clear();
}

void BroadcastQueue::wait() {
  std::vector<MPI_Request>& posted = requests_->posted;
  if (posted.empty()) return;
  const Waiting w;
  check(MPI_Waitall(static_cast<int>(posted.size()), posted.data(), MPI_STATUSES_IGNORE),
        "a broadcast");
  posted.clear();
}

bool any_rank(bool flag) {
  if (size_ == 1) return flag;
  const Waiting w;
  int in = flag ? 1 : 0, out = 0;
  check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "an all-reduce");
  return out != 0;
}

long long min_over_ranks(long long value) {
  if (size_ == 1) return value;
  const Waiting w;
  long long out = 0;
  check(MPI_Allreduce(&value, &out, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD), "an all-reduce");
  return out;
}

std::string agree_ready(const std::string& error, int* failed) {
  *failed = rank_;
  if (size_ == 1) return error;
  // The first rank that failed, then its message from it.
  unwatched = true;
  const long long first = min_over_ranks(error.empty() ? size_ : rank_);
  unwatched = false;
  if (first == size_) return "";
  const int root = static_cast<int>(first);
  *failed = root;
  std::vector<char> text(512, '\0');
  if (rank_ == root) std::memcpy(text.data(), error.data(), std::min(error.size(), text.size() - 1));
  broadcast_bytes(text.data(), text.size(), root);
  return std::string(text.data());
}

double collective_seconds() { return static_cast<double>(collective_ns) * 1e-9; }

void abort_ranks(int code) {
  if (!started || size_ == 1) return;
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}

#endif

}  // namespace vae

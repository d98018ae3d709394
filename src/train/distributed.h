// Data-parallel training over the processes of an MPI job (Open MPI; docs/distributed.md).
//
// `mpirun -np N vae train ...` starts N processes (ranks). Each holds a whole replica of the
// model, the whole data set and the same training RNG, so every rank draws the same shuffles and
// the same ε and holds the same global batch of B rows. The batch is split into S shards (the
// parts of train/data_parallel.h) whose count depends on B alone, never on N:
//   S = distributed_shards(B),   shard s = rows [s·⌊B/S⌋ + min(s, B mod S), ...)
// and shard s is run by rank shard_owner(s, S, N) only (contiguous blocks of shards). Each
// shard's gradient is computed by the same code on the same rows whichever rank holds it (BLAS
// single-threaded inside each shard), then broadcast from its owner, so every rank holds all S
// shard gradients and sums them in shard order:
//   g = Σ_{s=0}^{S−1} w_s g_s,   w_s = B_s / B
// the very sum (same operands, same order) for any N: N = 1, 2, 3 ... give the same parameters
// bit for bit. The cost of this: each rank receives (S − S_r) whole gradients per step (S_r its
// own shards) instead of a ring all-reduce's 2(N−1)/N of one. The broadcasts overlap the
// backward passes (BroadcastQueue; the sequence in train/data_parallel.h) unless
// distributed_overlap() is false.
//
// Everything else of a step is computed identically on every rank (Adam, the norm, the
// non-finite checks), so the ranks agree on every decision without a message: NaN recovery,
// the learning-rate schedule. The held-out score of each epoch is split over the ranks (whole
// batches each, their sums shared and added in batch order: rank_items, share_rank_items), and
// what one rank sees (a stop request) is shared explicitly. Only rank 0 writes files and
// prints progress. A rank keeps a model replica only for its own shards; the others' shards
// need only room for the gradients they send.
//
// Without MPI (built without it, or not started by mpirun) every function here describes one
// process alone: rank 0 of 1, not distributed, collectives that return at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace vae {

/// Fewest rows a shard gets when a batch is split for distributed training (as kMinRowsPerPart
/// for threads), and the most shards a batch is split into.
constexpr int kMinRowsPerShard = 32;
constexpr int kMaxShards = 12;

/// S for a global batch of `batch` rows: ⌊batch / 32⌋ clamped to 1..12. Independent of the rank
/// count, so that every N sums the same shards.
inline int distributed_shards(int batch) {
  const int s = batch / kMinRowsPerShard;
  return s < 1 ? 1 : (s > kMaxShards ? kMaxShards : s);
}

/// The shards of distributed training for a batch of `batch` rows (1 with free bits, which
/// forbid splitting the batch), checked against the rank count: throws
/// vae::FieldError("batch_size", ...) when there are more ranks than shards.
int rank_shards(int batch, bool free_bits);

/// The rank that runs shard s of S on N ranks: rank r holds shards [⌊r·S/N⌋, ⌊(r+1)·S/N⌋).
/// Needs N ≤ S (every rank holds at least one shard).
int shard_owner(int shard, int shards, int ranks);
/// The first shard of rank r (shard_owner's inverse): rank r holds [first_shard(r), first_shard(r+1)).
inline int first_shard(int rank, int shards, int ranks) {
  return static_cast<int>(static_cast<long long>(rank) * shards / ranks);
}

/// The items [lo, hi) of `count` that rank r of N works on when work is split over the ranks
/// in whole groups of `group` items (the last group may be short): rank r takes the groups
/// [⌊C·r/N⌋, ⌊C·(r+1)/N⌋), C = ⌈count / group⌉, so that every group is computed as one process
/// computes it (evaluation in chunks of the model's batch). Empty when C < N leaves r none.
struct ItemRange {
  size_t lo = 0, hi = 0;
};
ItemRange rank_items(size_t count, size_t group, int rank, int ranks);
/// This process's items: rank_items(count, group, world_rank(), world_size()) when work is
/// split `over_ranks`, else all `count` of them.
ItemRange own_items(size_t count, size_t group, bool over_ranks);

/// After every rank filled its own items of `data` (count items of item_bytes, split as
/// rank_items(count, group, ·, world_size())), every rank's items on every rank: a collective
/// call, rank by rank in rank order. Returns at once when not distributed.
void share_rank_items(void* data, size_t count, size_t group, size_t item_bytes);

/// True when this build can run distributed (it was built with MPI).
bool distributed_built();

/// Starts MPI when this process was started by an MPI launcher (mpirun / mpiexec / srun set
/// the launcher's variables), else does nothing. Call once, first thing in main. Sets MPI's
/// error handler to return codes, which the collectives here turn into vae::Error.
void distributed_init(int* argc, char*** argv);
/// Ends MPI if distributed_init started it. Call once, last thing in main.
void distributed_finalize();

/// This process's rank (0 when not distributed) and the number of ranks (1).
int world_rank();
int world_size();
/// True when running under an MPI launcher (even with one rank).
bool distributed();
/// Rank 0: the one that writes files and prints progress.
inline bool is_root_rank() { return world_rank() == 0; }

/// Collectives over all ranks; each rank must make the same calls in the same order. They
/// return at once when not distributed. A call that does not complete within the watchdog's
/// limit (distributed_timeout_seconds) ends the process with one line on stderr: a rank has
/// stopped. A failed MPI call throws vae::Error.
void broadcast_bytes(void* data, size_t bytes, int root);
/// True on every rank when `flag` is true on any rank.
bool any_rank(bool flag);
/// The smallest of the ranks' `value`.
long long min_over_ranks(long long value);

/// Non-blocking broadcasts (MPI_Ibcast), to overlap an exchange with computation: post() starts
/// one and returns at once; progress() lets the posted ones move (Open MPI moves a non-blocking
/// collective's data only while a rank is inside an MPI call: call it often, e.g. between the
/// layers of a backward pass); wait() returns when every posted one has completed, under the
/// watchdog as the collectives above. Every rank must post the same broadcasts (bytes, root) in
/// the same order, and wait before any other collective; a posted buffer must not be touched
/// until wait() returns (the root's must hold its final bytes when posted). The time inside these
/// calls counts in collective_seconds. Without a job (one rank) every call returns at once.
class BroadcastQueue {
 public:
  BroadcastQueue();
  ~BroadcastQueue();
  BroadcastQueue(const BroadcastQueue&) = delete;
  BroadcastQueue& operator=(const BroadcastQueue&) = delete;
  void post(void* data, size_t bytes, int root);
  void progress();
  void wait();

 private:
  struct Requests;  // the MPI requests posted and not yet known complete
  std::unique_ptr<Requests> requests_;
};

/// Whether every rank runs on this machine (MPI_COMM_TYPE_SHARED holds them all); true without
/// MPI.
bool ranks_share_one_node();

/// Whether distributed training overlaps the shards' exchange with the backward pass
/// (train/data_parallel.h). VAE_MPI_OVERLAP "1" or "0" says so (scripts/bench-mpi.sh measures
/// both); by default, only when the ranks span several machines: on one machine the copies run on
/// the cores that compute, and overlap measured 1–7% slower than the blocking exchange
/// (docs/distributed.md).
bool distributed_overlap();

/// Before training: every rank reports whether it is ready (`error` empty) or what stopped it;
/// the wait for the slowest rank is not limited by the watchdog.
/// Returns "" when all are ready; else the first failing rank's message (the same text on
/// every rank), that rank in *failed.
std::string agree_ready(const std::string& error, int* failed);

/// Ends every rank of the job with `code` after this rank printed its error (MPI_Abort); with
/// no job, returns.
void abort_ranks(int code);

/// Seconds this process has spent inside the collectives above since it started: the
/// communication of distributed training plus waiting for slower ranks (0 without a job).
double collective_seconds();

/// Seconds a collective may wait for the other ranks before the watchdog ends this process:
/// VAE_MPI_TIMEOUT when set (seconds, > 0), else 20.
double distributed_timeout_seconds();

}  // namespace vae

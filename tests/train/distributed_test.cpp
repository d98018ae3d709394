// The rules of distributed training that need no MPI job (src/train/distributed.h): how many
// shards a batch makes, which rank runs each, and a process started without mpirun.
#include "train/distributed.h"

#include <gtest/gtest.h>

#include <vector>

#include "vae/error.h"

namespace vae {
namespace {

TEST(Distributed, ShardsDependOnTheBatchAlone) {
  EXPECT_EQ(distributed_shards(1), 1);
  EXPECT_EQ(distributed_shards(63), 1);
  EXPECT_EQ(distributed_shards(64), 2);
  EXPECT_EQ(distributed_shards(96), 3);
  EXPECT_EQ(distributed_shards(128), 4);
  EXPECT_EQ(distributed_shards(384), 12);
  EXPECT_EQ(distributed_shards(100000), kMaxShards);
}

TEST(Distributed, EveryShardHasOneOwnerAndOwnersHoldContiguousBlocks) {
  for (int S = 1; S <= kMaxShards; ++S)
    for (int N = 1; N <= S; ++N) {
      std::vector<int> count(static_cast<size_t>(N), 0);
      int previous = 0;
      for (int s = 0; s < S; ++s) {
        const int r = shard_owner(s, S, N);
        ASSERT_GE(r, previous) << "S " << S << " N " << N << " shard " << s;
        ASSERT_LT(r, N);
        // The owner's range [first_shard(r), first_shard(r+1)) holds s.
        EXPECT_LE(first_shard(r, S, N), s);
        EXPECT_LT(s, first_shard(r + 1, S, N));
        ++count[static_cast<size_t>(r)];
        previous = r;
      }
      for (int r = 0; r < N; ++r) {
        // Balanced: S/N rounded down or up, never an idle rank.
        EXPECT_GE(count[static_cast<size_t>(r)], S / N) << "S " << S << " N " << N;
        EXPECT_LE(count[static_cast<size_t>(r)], (S + N - 1) / N) << "S " << S << " N " << N;
      }
    }
}

TEST(Distributed, ThreeRanksOverFourShards) {
  // Worked by hand: ⌊r·4/3⌋ = 0, 1, 2, 4 → rank 0 holds {0}, rank 1 {1}, rank 2 {2, 3}.
  EXPECT_EQ(shard_owner(0, 4, 3), 0);
  EXPECT_EQ(shard_owner(1, 4, 3), 1);
  EXPECT_EQ(shard_owner(2, 4, 3), 2);
  EXPECT_EQ(shard_owner(3, 4, 3), 2);
}

TEST(Distributed, RankItemsCoverEveryItemOnceInWholeGroups) {
  for (size_t count : {0u, 1u, 5u, 40u, 192u, 193u})
    for (size_t group : {1u, 7u, 40u, 500u})
      for (int N = 1; N <= 4; ++N) {
        size_t next = 0;
        for (int r = 0; r < N; ++r) {
          const ItemRange held = rank_items(count, group, r, N);
          ASSERT_EQ(held.lo, next) << count << " " << group << " " << N << " rank " << r;
          ASSERT_LE(held.lo, held.hi);
          // A block starts on a group's first item and ends on one's or at the end.
          EXPECT_EQ(held.lo % group, 0u);
          if (held.hi < count) {
            EXPECT_EQ(held.hi % group, 0u);
          }
          next = held.hi;
        }
        EXPECT_EQ(next, count) << count << " " << group << " " << N;
      }
}

TEST(Distributed, FiveBatchesOverThreeRanks) {
  // 192 rows in batches of 40 make 5 (the last of 32); ⌊r·5/3⌋ = 0, 1, 3, 5.
  EXPECT_EQ(rank_items(192, 40, 0, 3).lo, 0u);
  EXPECT_EQ(rank_items(192, 40, 0, 3).hi, 40u);
  EXPECT_EQ(rank_items(192, 40, 1, 3).hi, 120u);
  EXPECT_EQ(rank_items(192, 40, 2, 3).lo, 120u);
  EXPECT_EQ(rank_items(192, 40, 2, 3).hi, 192u);
  // More ranks than batches: the first gets none.
  EXPECT_EQ(rank_items(30, 40, 0, 2).hi, 0u);
  EXPECT_EQ(rank_items(30, 40, 1, 2).hi, 30u);
}

TEST(Distributed, AProcessStartedWithoutALauncherIsRankZeroOfOne) {
  EXPECT_FALSE(distributed());
  EXPECT_EQ(world_rank(), 0);
  EXPECT_EQ(world_size(), 1);
  EXPECT_TRUE(is_root_rank());
  // Collectives return at once and change nothing.
  float v[2] = {1.5f, -2.0f};
  broadcast_bytes(v, sizeof v, 0);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_TRUE(any_rank(true));
  EXPECT_FALSE(any_rank(false));
  EXPECT_EQ(min_over_ranks(7), 7);
  EXPECT_EQ(own_items(10, 3, true).hi, 10u);
  share_rank_items(v, 2, 1, sizeof(float));
  EXPECT_EQ(v[1], -2.0f);
  int failed = -1;
  EXPECT_EQ(agree_ready("", &failed), "");
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(agree_ready("data: no such file", &failed), "data: no such file");
  // One rank holds every shard: any batch is fine.
  EXPECT_EQ(rank_shards(16, false), 1);
  EXPECT_EQ(rank_shards(128, true), 1);
}

TEST(Distributed, TimeoutComesFromTheEnvironment) {
  ::unsetenv("VAE_MPI_TIMEOUT");
  EXPECT_EQ(distributed_timeout_seconds(), 20.0);
  ::setenv("VAE_MPI_TIMEOUT", "7.5", 1);
  EXPECT_EQ(distributed_timeout_seconds(), 7.5);
  ::setenv("VAE_MPI_TIMEOUT", "soon", 1);
  EXPECT_EQ(distributed_timeout_seconds(), 20.0);
  ::setenv("VAE_MPI_TIMEOUT", "-3", 1);
  EXPECT_EQ(distributed_timeout_seconds(), 20.0);
  ::unsetenv("VAE_MPI_TIMEOUT");
}

// Overlap only pays where the copies do not run on the cores that compute: across machines.
TEST(Distributed, OverlapByDefaultOnlyAcrossMachines) {
  ::unsetenv("VAE_MPI_OVERLAP");
  EXPECT_TRUE(ranks_share_one_node());  // a process without a launcher is one machine
  EXPECT_FALSE(distributed_overlap());
  ::setenv("VAE_MPI_OVERLAP", "1", 1);
  EXPECT_TRUE(distributed_overlap());
  ::setenv("VAE_MPI_OVERLAP", "0", 1);
  EXPECT_FALSE(distributed_overlap());
  ::unsetenv("VAE_MPI_OVERLAP");
}

}  // namespace
}  // namespace vae

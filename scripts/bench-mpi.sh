#!/usr/bin/env bash
# Distributed training on this machine: `vae train` under mpiexec with 1 and 2 ranks of one
# thread each, 2 ranks with the exchange overlapped with the backward pass and without
# (VAE_MPI_OVERLAP=0), for the default model and the conv preset, on the first $VAE_BENCH_MPI_N
# Fashion-MNIST training images (default 4096), one epoch, batch $VAE_BENCH_MPI_BATCH (128);
# $VAE_BENCH_MPI_ROUNDS rounds (default 1), the cases alternating within each round so that a
# change in the machine's load falls on all of them. Prints one line per case:
#
#   round | model | ranks | overlap | examples/s | steps | ms per step | ms per step in collectives (rank 0, rank 1)
#
# examples/s is the training loop's own figure (metrics.jsonl); the time in collectives is what
# each rank spent inside MPI calls (VAE_MPI_PROFILE), which is the shards' exchange plus waiting
# for the slower rank. docs/distributed.md sets these against its cost model. A benchmark, not a
# test: it takes a minute or two.
#
#   scripts/bench-mpi.sh [BUILD_DIR]      (default: build)
set -euo pipefail

build=${1:-build}
vae=$build/vae
[[ -x $vae ]] || { echo "bench-mpi: $vae not built (cmake --build $build --target vae_cli)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "bench-mpi: mpiexec not found (Debian: openmpi-bin)" >&2; exit 1; }
n=${VAE_BENCH_MPI_N:-4096}
batch=${VAE_BENCH_MPI_BATCH:-128}
rounds=${VAE_BENCH_MPI_ROUNDS:-1}
# As root in a container, and two ranks on two cores (docs/distributed.md, "Environment").
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One case: its line of the table.
run_case() {
  local round=$1 model=$2 np=$3 overlap=$4
  local out=$tmp/$round-$model-$np-$overlap
  VAE_MPI_OVERLAP=$([[ $overlap == off ]] && echo 0 || echo 1) VAE_MPI_PROFILE=1 \
    mpiexec -np "$np" "$vae" train --data fashion-mnist --limit "$n" \
    --epochs 1 --batch-size "$batch" --arch "$model" --threads 1 --val-split 0 --out "$out" \
    >"$out.log" 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
  python3 - "$out/metrics.jsonl" "$out.err" "$model" "$np" "$n" "$batch" "$round" "$overlap" <<'EOF'
import json, math, re, sys
metrics, err, model, np, n, batch, rnd, overlap = sys.argv[1:]
m = json.loads(open(metrics).read().splitlines()[0])
steps = math.ceil(int(n) / int(batch))
train_s = int(n) / m["examples_per_s"]
comm = [float(s) for _, s in sorted((int(r), s) for r, s in
        re.findall(r"rank (\d+): ([0-9.]+) s in collectives", open(err).read()))]
per = ", ".join(f"{1000 * c / steps:.2f}" for c in comm)
print(f"{rnd} | {model} | {np} | {overlap} | {m['examples_per_s']:.0f} | {steps} | {1000 * train_s / steps:.2f} | {per}")
EOF
}

echo "round | model | ranks | overlap | examples/s | steps | ms per step | ms per step in collectives (rank 0, 1, ...)"
for round in $(seq "$rounds"); do
  for model in mlp conv; do
    run_case "$round" "$model" 1 -
    run_case "$round" "$model" 2 on
    run_case "$round" "$model" 2 off
  done
done

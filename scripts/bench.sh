#!/usr/bin/env bash
# Side-by-side training speed: vae.cpp against the PyTorch peer (../shared/peers/torch_vae.py,
# the examples/vae model) on Fashion-MNIST, same model, batch and epochs, alternating the two
# (A B A B ...) at each thread count so machine noise hits both alike; then the Google Benchmark
# training-step and GEMM-ceiling benchmarks.
#
#   scripts/bench.sh [EPOCHS] [ROUNDS]      (defaults: 1 epoch, 2 rounds)
#
# Needs python3-torch for the peer (installed here when missing: it is large, so it is not part
# of scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
rounds=${2:-2}
peer=${VAE_PEER:-../shared/peers/torch_vae.py}

scripts/setup.sh
scripts/build.sh build >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing python3-torch for the peer"
  apt-get install -y -qq python3-torch >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
threads_list="1 $(nproc)"
[[ $(nproc) == 1 ]] && threads_list=1

printf '%-8s %-7s %-6s %12s %10s\n' impl threads round 'examples/s' test_loss
declare -A best
for t in $threads_list; do
  for r in $(seq 1 "$rounds"); do
    line=$(/usr/bin/python3 "$peer" --epochs "$epochs" --threads "$t" | tail -1)
    eps=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["train_examples_per_s"], d["test_loss"])' "$line")
    printf '%-8s %-7s %-6s %12s %10s\n' pytorch "$t" "$r" $eps
    v=${eps%% *}; k="pytorch"; [[ -z ${best[$k]:-} || $v -gt ${best[$k]} ]] && best[$k]=$v

    out="$tmp/run-$t-$r"
    ./build/vae train --data fashion-mnist --epochs "$epochs" --threads "$t" --out "$out" >/dev/null
    eps=$(python3 -c 'import json,sys
lines=[json.loads(l) for l in open(sys.argv[1])]
print(round(sum(l["examples_per_s"] for l in lines)/len(lines)), round(lines[-1]["test_loss"], 2))' "$out/metrics.jsonl")
    printf '%-8s %-7s %-6s %12s %10s\n' vae.cpp "$t" "$r" $eps
    v=${eps%% *}; k="vae.cpp"; [[ -z ${best[$k]:-} || $v -gt ${best[$k]} ]] && best[$k]=$v
  done
done
echo
printf 'best examples/s: vae.cpp %s, pytorch %s, ratio %.2f\n' "${best[vae.cpp]}" "${best[pytorch]}" \
  "$(python3 -c "print(${best[vae.cpp]}/${best[pytorch]})")"
echo
for t in $threads_list; do
  VAE_THREADS=$t ./build/bench/bench_train --benchmark_min_time=1 2>/dev/null | grep BM_
done

#!/usr/bin/env bash
# Side-by-side training speed: vae.cpp against PyTorch peers on Fashion-MNIST, same model, batch
# and epochs, alternating the two (A B A B ...) at each thread count so machine noise hits both
# alike; then the Google Benchmark GEMM ceilings at the same shapes; then one table:
#
#   case | threads (vae / pytorch) | vae.cpp ex/s | pytorch ex/s | ratio | GEMM ceiling ex/s |
#   vae % of GEMM ceiling | FP32 peak GFLOP/s | vae % of FP32 peak | native ex/s |
#   portable / native
#
# vae.cpp is the portable build (the default: no -march=native; per-ISA kernels chosen at run
# time); "native" is the same source built with -DVAE_NATIVE=ON into $VAE_BUILD_DIR-native, run
# right after it in each round (VAE_BENCH_NATIVE=0: not built, not run).
#
# (the FP32 peak: bench_train's BM_FmaPeak, a register-only FMA loop on the same threads)
#
#   scripts/bench.sh [--short] [EPOCHS] [ROUNDS] [SECTIONS]   (defaults: 1 epoch, 2 rounds, all)
#
# SECTIONS, comma-separated:
#   default  the default model (784-400-20 MLP), batch 128, against ../shared/peers/torch_vae.py
#   small    the same model at batch 20 and batch 1 (also b20, b1 alone), on the first
#            $VAE_BENCH_SMALL_N training images (default 10000): one step per example is slow
#   conv     `vae train --arch conv` against bench/torch_conv_vae.py (the same preset), batch 128
#   iw       `vae eval --iw $VAE_BENCH_IW_K` (default 5000) of a default model trained for one
#            epoch, over the first $VAE_BENCH_IW_N test images (default 1000; 10000 is the whole
#            test set, about ten times as long); no peer: the ceiling is the yardstick
#   all      all of the above
# Each one runs at each thread count ($VAE_BENCH_THREADS, default "1 $(nproc)"); the table shows
# each implementation at its best thread count, taking at a thread count the median of its rounds.
# vae.cpp trains with --val-split 0, on every training image as the peers do, so that its
# metrics.jsonl gives the test loss each epoch beside the peer's. examples/s are the training
# loop's own figures, total examples over total training time on both
# sides (vae: from metrics.jsonl; peer: its JSON line), which leave out loading and the test-set
# pass. The ceiling is the examples/s that the model's GEMMs
# alone reach at the same shapes and on the vae row's thread count (bench_train's BM_GemmCeiling
# or BM_GemmCeilingParallel, whichever is faster, bench_conv's BM_ConvModelGemmCeiling,
# bench_train's BM_IwGemmCeiling), the best of a measurement after each vae.cpp run and the
# final pass: vae % of it is how close the step gets to free overhead.
# Under the table: the default case's thread scaling, each side's median at each count.
#
# --short (or VAE_BENCH_SHORT=1): a quick, noisy check that everything runs: 2000 training and
# 1000 test images for every case, 1 round unless ROUNDS is given, short Google Benchmark runs.
#
# Environment: VAE_BUILD_DIR (build folder, default build), VAE_PEER and VAE_CONV_PEER (the peer
# scripts), FASHION_MNIST_DIR (the data; subsets are written from it into a temporary folder),
# VAE_BENCH_TRAIN_N / VAE_BENCH_TEST_N (training / test images of the default and conv cases;
# default all), VAE_BENCH_SMALL_N, VAE_BENCH_THREADS, VAE_BENCH_MIN_TIME (Google Benchmark's
# --benchmark_min_time, default 1).
#
# Needs python3-torch for the peers (installed here when missing: it is large, so it is not part
# of scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

short=${VAE_BENCH_SHORT:-0}
args=()
for a in "$@"; do
  if [[ $a == --short ]]; then short=1; else args+=("$a"); fi
done
epochs=${args[0]:-1}
rounds=${args[1]:-$([[ $short == 1 ]] && echo 1 || echo 2)}
sections=${args[2]:-all}
build=${VAE_BUILD_DIR:-build}
peer=${VAE_PEER:-../shared/peers/torch_vae.py}
conv_peer=${VAE_CONV_PEER:-bench/torch_conv_vae.py}
data_src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
threads_list=${VAE_BENCH_THREADS:-1 $(nproc)}
[[ -z ${VAE_BENCH_THREADS:-} && $(nproc) == 1 ]] && threads_list=1
if [[ $short == 1 ]]; then
  train_n=${VAE_BENCH_TRAIN_N:-2000} small_n=${VAE_BENCH_SMALL_N:-2000}
  test_n=${VAE_BENCH_TEST_N:-1000} min_time=${VAE_BENCH_MIN_TIME:-0.2}
  iw_n=${VAE_BENCH_IW_N:-50}
else
  train_n=${VAE_BENCH_TRAIN_N:-0} small_n=${VAE_BENCH_SMALL_N:-10000}
  test_n=${VAE_BENCH_TEST_N:-0} min_time=${VAE_BENCH_MIN_TIME:-1}
  iw_n=${VAE_BENCH_IW_N:-1000}
fi
iw_k=${VAE_BENCH_IW_K:-5000}

cases=()
for s in ${sections//,/ }; do
  case $s in
    all) cases+=(default b20 b1 conv iw) ;;
    default | b20 | b1 | conv | iw) cases+=("$s") ;;
    small) cases+=(b20 b1) ;;
    *) echo "bench: unknown section '$s' (default, small, b20, b1, conv, iw, all)" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVAE_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target vae_cli bench_train bench_conv >/dev/null
# The native build (-march=native for everything), run beside the portable one: the table shows
# both (VAE_BENCH_NATIVE=0 leaves it out).
native=${VAE_BENCH_NATIVE:-1}
if [[ $native == 1 ]]; then
  cmake -S . -B "$build-native" -DCMAKE_BUILD_TYPE=Release -DVAE_NATIVE=ON -DVAE_BUILD_TESTS=OFF \
    -DVAE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build-native" -j"$(nproc)" --target vae_cli >/dev/null
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing python3-torch for the peers"
  apt-get install -y -qq python3-torch >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
report() { python3 bench/bench_report.py "$@"; }

# The data of a case: the source folder, or a subset of it (the same files for both sides).
data_dir() {  # N_TRAIN N_TEST (0 = all)
  local n_train=$1 n_test=$2
  if [[ $n_train == 0 && $n_test == 0 ]]; then echo "$data_src"; return; fi
  local dir="$tmp/data-$n_train-$n_test"
  [[ -d $dir ]] || report subset "$data_src" "$dir" "$n_train" "$n_test"
  echo "$dir"
}

# The GEMM ceiling of a case at T threads, measured again after each of its vae.cpp runs (the
# machine's speed drifts; the table takes the best of these and of the final pass, as it takes
# the best round of each implementation).
ceiling_now() {  # CASE THREADS ROUND
  local prog filter
  read -r prog filter < <(report ceiling-bench "$1")
  VAE_THREADS=$2 "./$build/bench/$prog" --benchmark_filter="$filter" --benchmark_min_time=0.5 \
    --benchmark_out="$tmp/$prog-$2-$1-r$3.json" --benchmark_out_format=json >/dev/null 2>&1
  # The FP32 peak in the same minutes (the yardstick of "% of FP32 peak").
  VAE_THREADS=$2 "./$build/bench/bench_train" --benchmark_filter='^BM_FmaPeak/' \
    --benchmark_min_time=0.2 --benchmark_out="$tmp/peak-$2-$1-r$3.json" \
    --benchmark_out_format=json >/dev/null 2>&1
}

runs="$tmp/runs.tsv"
: >"$runs"
printf '%-8s %-8s %-7s %-6s %12s %10s\n' case impl threads round 'examples/s' 'test_loss'
# (for the iw case: test images/s and the importance-weighted NLL)
for c in "${cases[@]}"; do
  if [[ $c == iw ]]; then
    # One model (one epoch of the default MLP) for all of the case's runs, then the timed evals.
    data=$(data_dir "$train_n" "$iw_n")
    FASHION_MNIST_DIR=$data "./$build/vae" train --data fashion-mnist --epochs 1 \
      --out "$tmp/iw-model" >/dev/null
    for t in $threads_list; do
      for r in $(seq 1 "$rounds"); do
        FASHION_MNIST_DIR=$data "./$build/vae" eval "$tmp/iw-model/best.safetensors" \
          --iw "$iw_k" --threads "$t" --out "$tmp/iw.json" >/dev/null
        res=$(report iw "$tmp/iw.json")
        printf '%-8s %-8s %-7s %-6s %12s %10s\n' "$c" vae.cpp "$t" "$r" $res
        echo "$c vae.cpp $t $r $res" >>"$runs"
        ceiling_now "$c" "$t" "$r"
        [[ $native == 1 ]] || continue
        FASHION_MNIST_DIR=$data "./$build-native/vae" eval "$tmp/iw-model/best.safetensors" \
          --iw "$iw_k" --threads "$t" --out "$tmp/iw.json" >/dev/null
        res=$(report iw "$tmp/iw.json")
        printf '%-8s %-8s %-7s %-6s %12s %10s\n' "$c" native "$t" "$r" $res
        echo "$c native $t $r $res" >>"$runs"
      done
    done
    continue
  fi
  batch=128 peer_script=$peer vae_args=() n=$train_n
  case $c in
    b20) batch=20 n=$small_n ;;
    b1) batch=1 n=$small_n ;;
    conv) peer_script=$conv_peer vae_args=(--arch conv) ;;
  esac
  data=$(data_dir "$n" "$test_n")
  for t in $threads_list; do
    for r in $(seq 1 "$rounds"); do
      line=$(FASHION_MNIST_DIR=$data /usr/bin/python3 "$peer_script" --epochs "$epochs" \
        --threads "$t" --batch-size "$batch" | tail -1)
      res=$(report peer "$line")
      printf '%-8s %-8s %-7s %-6s %12s %10s\n' "$c" pytorch "$t" "$r" $res
      echo "$c pytorch $t $r $res" >>"$runs"

      out="$tmp/run-$c-$t-$r"
      FASHION_MNIST_DIR=$data "./$build/vae" train --data fashion-mnist --val-split 0 --epochs "$epochs" \
        --threads "$t" --batch-size "$batch" "${vae_args[@]}" --out "$out" >/dev/null
      res=$(report vae "$out/metrics.jsonl")
      printf '%-8s %-8s %-7s %-6s %12s %10s\n' "$c" vae.cpp "$t" "$r" $res
      echo "$c vae.cpp $t $r $res" >>"$runs"
      ceiling_now "$c" "$t" "$r"
      rm -rf "$out"
      [[ $native == 1 ]] || continue
      FASHION_MNIST_DIR=$data "./$build-native/vae" train --data fashion-mnist --val-split 0 --epochs "$epochs" \
        --threads "$t" --batch-size "$batch" "${vae_args[@]}" --out "$out" >/dev/null
      res=$(report vae "$out/metrics.jsonl")
      printf '%-8s %-8s %-7s %-6s %12s %10s\n' "$c" native "$t" "$r" $res
      echo "$c native $t $r $res" >>"$runs"
      rm -rf "$out"
    done
  done
done

# The ceilings (and bench_train's training step) at each thread count.
want_mlp=0 want_conv=0
for c in "${cases[@]}"; do [[ $c == conv ]] && want_conv=1 || want_mlp=1; done
echo
for t in $threads_list; do
  if [[ $want_mlp == 1 ]]; then
    VAE_THREADS=$t "./$build/bench/bench_train" --benchmark_min_time="$min_time" \
      --benchmark_out="$tmp/bench_train-$t.json" --benchmark_out_format=json 2>/dev/null | grep BM_
  fi
  if [[ $want_mlp == 0 ]]; then  # the FP32 peak, which bench_train's full pass has otherwise
    VAE_THREADS=$t "./$build/bench/bench_train" --benchmark_filter='^BM_FmaPeak/' \
      --benchmark_min_time="$min_time" --benchmark_out="$tmp/bench_train-$t.json" \
      --benchmark_out_format=json 2>/dev/null | grep BM_
  fi
  if [[ $want_conv == 1 ]]; then
    VAE_THREADS=$t "./$build/bench/bench_conv" --benchmark_filter=BM_ConvModelGemmCeiling \
      --benchmark_min_time="$min_time" --benchmark_out="$tmp/bench_conv-$t.json" \
      --benchmark_out_format=json 2>/dev/null | grep BM_
  fi
done

echo
[[ $short == 1 ]] && echo "(short run: data subsets, few rounds: noisy figures, for checking only)"
echo "epochs $epochs, rounds $rounds, threads $threads_list; ex/s: median of rounds at each one's best thread count"
[[ " ${cases[*]} " == *" iw "* ]] && echo "iw: K = $iw_k over the first $iw_n test images; examples/s = test images per second"
report table "$runs" "$tmp" "$iw_k"

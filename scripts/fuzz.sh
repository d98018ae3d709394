#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, ASan + UBSan) into ./build-fuzz and runs them,
# one fuzzer process at a time, at the lowest CPU priority (nice 19). docs/fuzzing.md has more.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   fuzz each target for SECONDS (default 600); all
#                                           targets when none is named
#   scripts/fuzz.sh --keep-going [SECONDS] [TARGET...]
#                                           the same, but go on after a crash (libFuzzer's fork
#                                           mode), collecting every finding of the run
#   scripts/fuzz.sh --smoke [TARGET...]     run each harness once over its seed corpus and the
#                                           inputs of past findings (fuzz/regressions/<target>)
#   scripts/fuzz.sh --make-corpus           rewrite fuzz/corpus with fuzz_make_corpus
#   scripts/fuzz.sh --list                  the targets
# Targets: idx csv npy image safetensors checkpoint config_json metrics serve_request.
# A run works on a copy of the seeds, build-fuzz/fuzz-corpus/<target> (kept between runs, so a
# later run starts from what an earlier one found); crashes, leaks, timeouts and out-of-memory
# inputs go to build-fuzz/fuzz-findings/<target>, the fuzzer's output to
# build-fuzz/fuzz-logs/<target>.log. Reproduce a finding with build-fuzz/fuzz/fuzz_<target> FILE.
# Exit status: 0 when no target produced a finding, 1 otherwise, 2 for a bad argument.
# Needs clang and libFuzzer: scripts/setup.sh --with-fuzz. BUILD_DIR overrides build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(idx csv npy image safetensors checkpoint config_json metrics serve_request)
build=${BUILD_DIR:-build-fuzz}

# Largest input per target: room for the biggest seed several times over, small enough that a
# run stays fast. Images get the most, as a JPEG or PNG needs some bytes to decode to anything.
max_len() {
  case $1 in
    idx) echo 16384 ;;
    csv) echo 8192 ;;
    npy) echo 8192 ;;
    image) echo 32768 ;;
    safetensors) echo 16384 ;;
    checkpoint) echo 32768 ;;
    config_json) echo 4096 ;;
    metrics) echo 4096 ;;
    serve_request) echo 8192 ;;
  esac
}
# Per-input limits: a reader taking over 10 s on a file this small hangs; 2 GiB is far beyond
# what any of these inputs may cost (the readers refuse what the file cannot hold).
timeout_s=10
rss_limit_mb=2048

mode=fuzz
seconds=600
targets=()
case ${1:-} in
  --smoke) mode=smoke; shift ;;
  --keep-going) mode=keep-going; shift ;;
  --make-corpus) mode=make-corpus; shift ;;
  --list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
esac
if [[ $mode != smoke && ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
for t in "$@"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || {
    echo "fuzz: unknown target '$t' (targets: ${all_targets[*]})" >&2
    exit 2
  }
  targets+=("$t")
done
((${#targets[@]})) || targets=("${all_targets[@]}")

command -v clang++ >/dev/null || {
  echo "fuzz: clang++ not found; run scripts/setup.sh --with-fuzz" >&2
  exit 1
}
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVAE_FUZZ=ON \
  -DVAE_BUILD_TESTS=OFF -DVAE_BUILD_BENCH=OFF -DVAE_NATIVE=OFF >/dev/null
build_log=$build/fuzz-build.log
if ! nice -n 19 cmake --build "$build" --target fuzz_all -j"$(nproc)" >"$build_log" 2>&1; then
  grep -E 'error|Error' "$build_log" | head -30 >&2
  echo "fuzz: build failed (all of it in $build_log)" >&2
  exit 1
fi
grep -E 'warning:' "$build_log" || true

if [[ $mode == make-corpus ]]; then
  rm -rf fuzz/corpus
  "$build/fuzz/fuzz_make_corpus" fuzz/corpus
  echo "fuzz: wrote $(find fuzz/corpus -type f | wc -l) seed files" \
    "($(cat fuzz/corpus/*/* | wc -c) bytes) to fuzz/corpus"
  exit 0
fi

# Stack traces with file and line, and every UBSan report fatal with its stack.
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[[ -n $symbolizer ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

found=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/fuzz_$t
  dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=(-dict="fuzz/dict/$t.dict")
  limits=(-max_len="$(max_len "$t")" -timeout=$timeout_s -rss_limit_mb=$rss_limit_mb)

  if [[ $mode == smoke ]]; then
    start=$SECONDS
    dirs=("fuzz/corpus/$t")
    [[ -d fuzz/regressions/$t ]] && dirs+=("fuzz/regressions/$t")
    if out=$("$bin" "${limits[@]}" "${dict[@]}" -runs=0 "${dirs[@]}" 2>&1); then
      runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' <<<"$out")
      seeds=$(find "${dirs[@]}" -type f | wc -l)
      echo "fuzz --smoke $t: $seeds seed and regression files ($runs runs) in $((SECONDS - start)) s, ok"
    else
      echo "$out" | tail -40
      echo "fuzz --smoke $t: FAILED (see above)"
      found=1
    fi
    continue
  fi

  corpus=$build/fuzz-corpus/$t
  findings=$build/fuzz-findings/$t
  log=$build/fuzz-logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp -n "fuzz/corpus/$t"/* "$corpus"/
  [[ -d fuzz/regressions/$t ]] && cp -n "fuzz/regressions/$t"/* "$corpus"/
  find "$findings" -type f | sort >"$log.before"
  fork=()
  if [[ $mode == keep-going ]]; then
    fork=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -print_funcs=0)
  fi
  start=$SECONDS
  rc=0
  nice -n 19 "$bin" "${limits[@]}" "${dict[@]}" "${fork[@]}" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))

  # Executions: libFuzzer's final statistics, or in fork mode the last status line's count.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [[ -n $runs ]] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
  # Findings of this run by kind: crash (incl. sanitizer reports), leak, timeout, oom.
  new_files=$(find "$findings" -type f | sort | comm -13 "$log.before" -)
  rm -f "$log.before"
  new=$(grep -c . <<<"$new_files" || true)
  kinds=$(sed 's|.*/||; s/-.*//' <<<"$new_files" | grep . | sort | uniq -c |
    awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}' || true)
  # The corpus as libFuzzer last counted it (inputs/bytes), and the files kept on disk.
  corp=$(grep -oE 'corp: [0-9]+(/[0-9]+[a-zA-Z]+)?' "$log" | tail -1 | cut -d' ' -f2 || true)
  echo "fuzz $t: ${runs:-?} executions in $elapsed s," \
    "corpus ${corp:-?} ($(find "$corpus" -type f | wc -l) files on disk)," \
    "$new new findings${kinds:+ ($kinds)}, exit $rc"
  if ((new > 0 || rc != 0)); then
    found=1
    grep -oE '(==[0-9]+==ERROR|SUMMARY|[^ ]*: runtime error).*' "$log" | sort -u | head -8 |
      sed 's/^/  /' || true
    echo "  log: $log; findings: $findings/"
  fi
done
exit $found

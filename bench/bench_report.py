#!/usr/bin/env python3
"""Helpers of scripts/bench.sh (standard library only; any python3):

  bench_report.py subset SRC DST N_TRAIN N_TEST   the first N images and labels of each split of
                                                  the IDX files in SRC (0: all), written gzipped
                                                  to DST
  bench_report.py peer LINE                       "examples/s test_loss" from a peer's JSON line
  bench_report.py vae METRICS_JSONL               the same from a vae run's metrics.jsonl
  bench_report.py ceiling-bench CASE               "PROGRAM FILTER": the case's ceiling benchmarks
  bench_report.py iw EVAL_JSON                    "examples/s nll" of `vae eval --iw` (the JSON's
                                                  example count over its seconds)
  bench_report.py table RUNS_TSV CEILING_DIR [K]  the summary table (K: the IW case's samples)

RUNS_TSV has one line per run: case, impl (vae.cpp, pytorch or native), threads, round, examples/s,
test_loss. CEILING_DIR holds Google Benchmark JSON outputs named bench_train-T.json and
bench_conv-T.json (T the thread count), and PREFIX-T-CASE-rR.json measured after round R of a
case; a case's ceiling is the fastest of all of them.
"""
import gzip, json, os, re, statistics, struct, sys

# case → (batch, label, ceiling benchmarks (file prefix, benchmark names: the fastest of them is
# the ceiling)), in table order. Where the same products can run on BLAS's threads or split
# data-parallel over the threads, both are measured and the faster one counts.
# % of FP32 peak: the case's GEMM FLOPs per example (its ceiling benchmark's FLOP/s over its
# items/s) times vae.cpp's examples/s, over bench_train's BM_FmaPeak at the same threads (files
# bench_train-T.json and peak-T-CASE-rR.json, the best of them).
CASES = {
    "default": (128, "default MLP, batch 128", ("bench_train", ["BM_GemmCeiling/128/real_time",
                                                                 "BM_GemmCeilingParallel/128/real_time"])),
    "b20": (20, "default MLP, batch 20", ("bench_train", ["BM_GemmCeiling/20/real_time",
                                                           "BM_GemmCeilingParallel/20/real_time"])),
    "b1": (1, "default MLP, batch 1", ("bench_train", ["BM_GemmCeiling/1/real_time"])),
    "conv": (128, "conv preset, batch 128", ("bench_conv", ["BM_ConvModelGemmCeiling/real_time"])),
    # vae eval --iw K: examples/s over the test images; the ceiling is latent samples/s / K.
    "iw": (0, "eval --iw K, default MLP", ("bench_train", ["BM_IwGemmCeiling/real_time"])),
}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return raw[:4], dims, raw[4 + 4 * ndim:]


def find_idx(folder, name):
    for p in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
        if os.path.isfile(p):
            return p
    sys.exit(f"bench: {folder}: missing {name}[.gz]")


def subset(src, dst, n_train, n_test):
    os.makedirs(dst, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            name = f"{split}-{kind}"
            magic, dims, body = read_idx(find_idx(src, name))
            n = dims[0] if n <= 0 else min(n, dims[0])
            per_item = len(body) // dims[0]
            with gzip.open(os.path.join(dst, name + ".gz"), "wb", compresslevel=1) as f:
                f.write(magic + struct.pack(">" + "I" * len(dims), n, *dims[1:]) + body[:n * per_item])


def bench_values(ceiling_dir, files, names, key):
    """`key` of every benchmark named in `names` in the JSON files `files` (names in ceiling_dir)."""
    found = []
    for f in files:
        with open(os.path.join(ceiling_dir, f)) as fh:
            found += [b[key] for b in json.load(fh)["benchmarks"]
                      if b["name"] in names and b.get("run_type", "iteration") == "iteration" and key in b]
    return found


def fp32_peak(ceiling_dir, threads):
    """FLOP/s of BM_FmaPeak at the given threads (the best of its measurements), or None."""
    files = [f for f in sorted(os.listdir(ceiling_dir))
             if f == f"bench_train-{threads}.json" or
             (f.startswith(f"peak-{threads}-") and f.endswith(".json"))]
    found = bench_values(ceiling_dir, files, ["BM_FmaPeak/real_time"], "FLOP/s")
    return max(found) if found else None


def flop_per_example(ceiling_dir, case, threads, iw_k):
    """The case's GEMM FLOPs per example: its ceiling benchmark's FLOP/s over items/s."""
    prefix, names = CASES[case][2]
    files = [f for f in sorted(os.listdir(ceiling_dir))
             if f.startswith(f"{prefix}-{threads}") and f.endswith(".json")]
    flops = bench_values(ceiling_dir, files, names, "FLOP/s")
    items = bench_values(ceiling_dir, files, names, "items_per_second")
    if not flops or len(flops) != len(items):
        return None
    return flops[0] / items[0] * (iw_k if case == "iw" else 1)


def ceiling(ceiling_dir, case, threads, iw_k):
    """Examples/s at the GEMM ceiling for the case at the given threads, or None."""
    prefix, names = CASES[case][2]
    # The final pass (PREFIX-T.json) and the measurements after each run (PREFIX-T-CASE-rR.json).
    paths = [os.path.join(ceiling_dir, f) for f in sorted(os.listdir(ceiling_dir))
             if f == f"{prefix}-{threads}.json" or
             (f.startswith(f"{prefix}-{threads}-{case}-r") and f.endswith(".json"))]
    found = []
    for path in paths:
        with open(path) as f:
            found += [b["items_per_second"] for b in json.load(f)["benchmarks"]
                      if b["name"] in names and b.get("run_type", "iteration") == "iteration"]
    if not found:
        return None
    return max(found) / (iw_k if case == "iw" else 1)


def table(runs_tsv, ceiling_dir, iw_k):
    runs = {}  # (case, impl) → {threads: [examples/s of each round]}
    with open(runs_tsv) as f:
        for line in f:
            case, impl, threads, _round, eps, _loss = line.split()
            runs.setdefault((case, impl), {}).setdefault(int(threads), []).append(float(eps))
    rows = []
    scaling = []
    for case, (batch, label, _) in CASES.items():
        if (case, "vae.cpp") not in runs:
            continue
        if case == "iw":
            label = label.replace("K", str(iw_k))
        # Each one at its best thread count; at a thread count, the median of its rounds (the
        # rounds alternate the implementations, so the machine's drift hits all alike).
        best = {}
        for impl in ("vae.cpp", "pytorch", "native"):
            if (case, impl) not in runs:
                continue
            per_threads = {t: statistics.median(v) for t, v in runs[(case, impl)].items()}
            t = max(per_threads, key=per_threads.get)
            best[impl] = (t, per_threads[t])
            if case == "default" and len(per_threads) > 1:
                lo, hi = min(per_threads), max(per_threads)
                scaling.append(f"{impl} {hi} threads / {lo}: {per_threads[hi] / per_threads[lo]:.2f}x")
        tv, v = best["vae.cpp"]
        tp, p = best.get("pytorch", ("-", None))
        _, nat = best.get("native", ("-", None))
        c = ceiling(ceiling_dir, case, tv, iw_k)
        peak, fpe = fp32_peak(ceiling_dir, tv), flop_per_example(ceiling_dir, case, tv, iw_k)
        rows.append([label, f"{tv} / {tp}", f"{v:.0f}", f"{p:.0f}" if p else "-",
                     f"{v / p:.2f}" if p else "-", f"{c:.0f}" if c else "-",
                     f"{100 * v / c:.1f}%" if c else "-",
                     f"{peak / 1e9:.0f}" if peak else "-",
                     f"{100 * v * fpe / peak:.1f}%" if peak and fpe else "-",
                     f"{nat:.0f}" if nat else "-", f"{v / nat:.2f}" if nat else "-"])
    head = ["case", "threads (vae / pytorch)", "vae.cpp ex/s", "pytorch ex/s", "ratio",
            "GEMM ceiling ex/s", "vae % of GEMM ceiling", "FP32 peak GFLOP/s", "vae % of FP32 peak",
            "native ex/s", "portable / native"]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    fmt = lambda r: " | ".join(s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(r, widths)))
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
    if scaling:
        print("thread scaling, default MLP batch 128 (median of rounds at each count): " + "; ".join(scaling))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "subset":
        subset(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "peer":
        d = json.loads(args[0])
        print(d["train_examples_per_s"], d["test_loss"])
    elif cmd == "vae":
        # Total examples over total training time, as the peers report: every epoch trains on
        # the same N examples, in N / examples_per_s seconds, so that is the harmonic mean of the
        # epochs' rates (an arithmetic mean would favour vae.cpp over more than one epoch).
        lines = [json.loads(l) for l in open(args[0]) if l.strip()]
        print(round(len(lines) / sum(1.0 / l["examples_per_s"] for l in lines)),
              round(lines[-1]["test_loss"], 2))
    elif cmd == "ceiling-bench":
        prefix, names = CASES[args[0]][2]
        print(prefix, "^(" + "|".join(re.escape(n) for n in names) + ")$")
    elif cmd == "iw":
        # The examples the evaluation itself counted, over its unrounded time.
        d = json.loads(open(args[0]).read())
        print(round(d["iw"]["examples"] / d["iw"]["seconds"], 2), d["iw"]["nll"])
    elif cmd == "table":
        table(args[0], args[1], int(args[2]) if len(args) > 2 else 5000)
    else:
        sys.exit(f"bench_report.py: unknown command {cmd}")


if __name__ == "__main__":
    main()

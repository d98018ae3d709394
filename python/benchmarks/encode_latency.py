"""Single-example encode latency through the Python package: the median over many calls of
Model.encode on one row, BLAS on one thread. The C++ twin is examples/encode_latency.cpp.

    python3 python/benchmarks/encode_latency.py CHECKPOINT [CALLS]   (default 2000, after 100)
"""
import statistics
import sys
import time

import numpy as np

import vae


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} CHECKPOINT [CALLS]")
    calls = int(sys.argv[2]) if len(sys.argv) == 3 else 2000
    vae.set_num_threads(1)
    m = vae.load(sys.argv[1])
    x = np.full((1, m.input_dim), 0.5, np.float32)
    labels = 0 if m.num_classes > 0 else None
    us = []
    for i in range(-100, calls):
        t0 = time.perf_counter_ns()
        m.encode(x, labels=labels)
        t1 = time.perf_counter_ns()
        if i >= 0:
            us.append((t1 - t0) / 1000.0)
    print(f"Python encode, 1 example, D={m.input_dim} Z={m.latent_dim}: "
          f"median {statistics.median(us):.1f} us over {calls} calls")


if __name__ == "__main__":
    main()

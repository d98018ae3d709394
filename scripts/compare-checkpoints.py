#!/usr/bin/env python3
"""Compares the tensors of two .safetensors checkpoints byte for byte.

    scripts/compare-checkpoints.py A.safetensors B.safetensors

Prints one line per tensor that differs (name, dtype/shape, number of differing bytes) and a
summary; exits 0 when both files hold the same tensor names with identical dtypes, shapes and
bytes, 1 otherwise. The JSON metadata is not compared (it may spell the same configuration
differently); use --metadata to print both side by side.
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n :]
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0] : v["data_offsets"][1]]) for k, v in header.items()}
    return tensors, meta


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    (ta, ma), (tb, mb) = read(args[0]), read(args[1])
    bad = 0
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            print(f"{name}: only in {'A' if name in ta else 'B'}")
            bad += 1
            continue
        (da, sa, ba), (db, sb, bb) = ta[name], tb[name]
        if (da, sa) != (db, sb):
            print(f"{name}: {da}{sa} vs {db}{sb}")
            bad += 1
        elif ba != bb:
            diff = sum(x != y for x, y in zip(ba, bb))
            print(f"{name}: {da}{sa}, {diff} of {len(ba)} bytes differ")
            bad += 1
    if "--metadata" in argv:
        for k in sorted(set(ma) | set(mb)):
            print(f"{k}:\n  A {ma.get(k)}\n  B {mb.get(k)}")
    total = len(set(ta) | set(tb))
    print(f"{total - bad} of {total} tensors identical" + ("" if bad else " (every byte)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

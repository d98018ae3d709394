"""The safetensors format in pure Python and NumPy: what a vae.cpp checkpoint is, and what
`vae import --weights` reads. No dependency on the `safetensors` package (not in Debian 12).

    from vae import safetensors
    tensors, metadata = safetensors.load("best.safetensors")    # {name: ndarray}, {key: str}
    safetensors.save("state.safetensors", {"encoder.0.weight": w, ...}, {"note": "text"})

The format: an 8-byte little-endian header length N, N bytes of JSON
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 "__metadata__": {"key": "string"}}, then the tensors' bytes, little-endian, row-major, each
tensor at [begin, end) of that byte buffer.
"""
import json
import os
import struct

import numpy as np

__all__ = ["load", "save", "SafetensorsError"]

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 << 20


class SafetensorsError(ValueError):
    """A file that is not well-formed safetensors, or a tensor that cannot be written."""


def load(path):
    """Reads every tensor of a .safetensors file: ({name: ndarray}, {key: str}). The arrays are
    copies in native byte order. Raises SafetensorsError "<path>: <what>" for a malformed file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise SafetensorsError(f"{path}: header length {n} does not fit the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    tensors = {name: _tensor(path, name, info, body) for name, info in header.items()}
    return tensors, dict(metadata)


def _tensor(path, name, info, body):
    try:
        dtype = _DTYPES[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise SafetensorsError(f"{path}: tensor '{name}': bad dtype, shape or data_offsets "
                               f"({info})") from None
    count = int(np.prod(shape, dtype=np.int64))
    if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
        raise SafetensorsError(f"{path}: tensor '{name}': data_offsets [{begin}, {end}] do not "
                               f"hold {shape} of {info['dtype']} in {len(body)} bytes")
    a = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape)
    return a.astype(dtype.newbyteorder("="), copy=True)


def save(path, tensors, metadata=None):
    """Writes {name: array-like} (and {key: str} metadata) as .safetensors, through a temporary
    file renamed into place. Tensors are written in name order; torch tensors are accepted
    (moved to the CPU and detached)."""
    arrays = {name: _array(name, t) for name, t in sorted(tensors.items())}
    header, offset = {}, 0
    for name, a in arrays.items():
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for a in arrays.values():
                f.write(a.tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _array(name, t):
    if hasattr(t, "detach"):  # a torch.Tensor
        t = t.detach().cpu().numpy()
    a = np.asarray(t)
    if not a.flags.c_contiguous:  # (np.ascontiguousarray would make a scalar 1-D)
        a = a.copy(order="C")
    le = a.dtype.newbyteorder("<")
    if le not in _NAMES:
        raise SafetensorsError(f"tensor '{name}': dtype {a.dtype} has no safetensors name")
    return a.astype(le, copy=False)

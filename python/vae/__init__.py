"""vae.cpp from Python: a trained model's encode, decode, sample, reconstruct and score on NumPy
arrays, through the C API (include/vae/vae.h) loaded with ctypes.

    import vae
    m = vae.load("runs/mnist/best.safetensors")
    mu, logvar = m.encode(x)          # x (B, D) or (D,) float32-convertible, data units
    x_hat = m.decode(mu)              # (B, D)

The C library is found, in this order: the file named by $VAE_LIBRARY; the one `cmake --install`
put beside this package (_library.py); libvae_c.so on the loader's search path. Errors are
vae.Error carrying the library's one-line message. A Model may be used from many threads.
"""
import ctypes
import os

import numpy as np

__all__ = ["Error", "Model", "load", "version"]


class Error(RuntimeError):
    """A failed call: the library's message (vae_last_error)."""


class _CView(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("rows", ctypes.c_size_t),
                ("cols", ctypes.c_size_t)]


class _View(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("rows", ctypes.c_size_t),
                ("cols", ctypes.c_size_t)]


class _Labels(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_int32)), ("size", ctypes.c_size_t)]


def _library_path():
    env = os.environ.get("VAE_LIBRARY")
    if env:
        return env
    try:
        from . import _library  # written by cmake --install
        return os.path.normpath(os.path.join(os.path.dirname(__file__), _library.LIBRARY))
    except ImportError:
        return "libvae_c.so"


def _open_library():
    path = _library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"vae: cannot load the C library '{path}' ({e}); set VAE_LIBRARY to "
                          "the path of libvae_c.so") from None
    model_p = ctypes.c_void_p
    status = ctypes.c_int
    signatures = {
        "vae_version": (ctypes.c_char_p, []),
        "vae_last_error": (ctypes.c_char_p, []),
        "vae_set_num_threads": (None, [ctypes.c_int]),
        "vae_load": (status, [ctypes.c_char_p, ctypes.POINTER(model_p)]),
        "vae_free": (None, [model_p]),
        "vae_input_dim": (ctypes.c_size_t, [model_p]),
        "vae_latent_dim": (ctypes.c_size_t, [model_p]),
        "vae_num_classes": (ctypes.c_int, [model_p]),
        "vae_encode": (status, [model_p, _CView, _View, _View, _Labels]),
        "vae_decode": (status, [model_p, _CView, _View, _Labels]),
        "vae_sample": (status, [model_p, ctypes.c_uint64, _View, _Labels]),
        "vae_reconstruct": (status, [model_p, _CView, _View, _Labels]),
        "vae_score": (status, [model_p, _CView, _View, ctypes.c_int, ctypes.c_uint64, _Labels]),
        "vae_default_seed": (ctypes.c_uint64, []),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = _open_library()


def _check(status):
    if status != 0:
        raise Error(_lib.vae_last_error().decode("utf-8", "replace"))


def _rows(a, name):
    """a as a C-contiguous float32 (B, cols) array; a 1-D array is one row."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise Error(f"{name}: must be a 1-D row or a 2-D array of rows, got {a.ndim} dimensions")
    return a


def _cview(a):
    return _CView(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a.shape[0], a.shape[1])


def _view(a):
    return _View(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a.shape[0], a.shape[1])


def set_num_threads(n):
    """Threads BLAS may use inside each call (n <= 0: one per core); process-wide."""
    _lib.vae_set_num_threads(int(n))


def version():
    return _lib.vae_version().decode()


class Model:
    """A loaded checkpoint. Arrays in and out are float32, rows of D (data) or Z (latent)
    values; data are in their own units (the checkpoint's scaling is applied and undone
    inside). Conditional models take `labels`, one integer per row."""

    def __init__(self, path):
        handle = ctypes.c_void_p()
        _check(_lib.vae_load(os.fsencode(path), ctypes.byref(handle)))
        self._handle = handle
        self.input_dim = _lib.vae_input_dim(handle)
        self.latent_dim = _lib.vae_latent_dim(handle)
        self.num_classes = _lib.vae_num_classes(handle)

    def close(self):
        """Frees the model now (also done when it is garbage-collected)."""
        if getattr(self, "_handle", None):
            _lib.vae_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _labels(self, labels, rows):
        if labels is None:
            return _Labels(None, 0), None
        y = np.ascontiguousarray(np.broadcast_to(np.asarray(labels, dtype=np.int32), (rows,)))
        return _Labels(y.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), y.shape[0]), y

    def encode(self, x, labels=None):
        """Posterior parameters of x (B, D): (mu, logvar), each (B, Z)."""
        x = _rows(x, "x")
        mu = np.empty((x.shape[0], self.latent_dim), np.float32)
        logvar = np.empty_like(mu)
        lab, keep = self._labels(labels, x.shape[0])
        _check(_lib.vae_encode(self._handle, _cview(x), _view(mu), _view(logvar), lab))
        del keep
        return mu, logvar

    def decode(self, z, labels=None):
        """Decoder means (B, D) in data units for latent rows z (B, Z)."""
        z = _rows(z, "z")
        x = np.empty((z.shape[0], self.input_dim), np.float32)
        lab, keep = self._labels(labels, z.shape[0])
        _check(_lib.vae_decode(self._handle, _cview(z), _view(x), lab))
        del keep
        return x

    def sample(self, n, seed=1, labels=None):
        """n rows decoded from prior draws z ~ N(0, I) (the same seed, the same rows)."""
        x = np.empty((int(n), self.input_dim), np.float32)
        lab, keep = self._labels(labels, x.shape[0])
        _check(_lib.vae_sample(self._handle, int(seed), _view(x), lab))
        del keep
        return x

    def reconstruct(self, x, labels=None):
        """decode(mu(x)): the reconstruction of each row of x (B, D)."""
        x = _rows(x, "x")
        out = np.empty_like(x)
        lab, keep = self._labels(labels, x.shape[0])
        _check(_lib.vae_reconstruct(self._handle, _cview(x), _view(out), lab))
        del keep
        return out

    def score(self, x, importance_samples=0, seed=None, labels=None):
        """Per-example scores (B,), nats, lower is better: -ELBO, or -log p(x) estimated with
        importance_samples samples."""
        x = _rows(x, "x")
        out = np.empty((x.shape[0], 1), np.float32)
        seed = _lib.vae_default_seed() if seed is None else int(seed)
        lab, keep = self._labels(labels, x.shape[0])
        _check(_lib.vae_score(self._handle, _cview(x), _view(out), int(importance_samples), seed,
                              lab))
        del keep
        return out[:, 0]


def load(path):
    """Loads a checkpoint (full, or weights-only from `vae export --weights-only`)."""
    return Model(path)

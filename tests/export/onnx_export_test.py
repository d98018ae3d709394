"""vae export --onnx (src/export/onnx_export.cpp): the graphs pass onnx.checker (full_check) and
give, in two real runtimes, what vae.cpp gives (the C API through python/vae) to 1e-5: OpenCV's
dnn module (python3-opencv) and ONNX Runtime (onnxruntime-node, tests/export/node, installed by
scripts/setup.sh --with-test-tools). Models: an MLP with standardised data (Gaussian), the conv
preset (Bernoulli), a gated dense MLP (Bernoulli), and the two conditional fixtures (custom
conv; MLP with learned σ). Each runtime's part skips with a message when it is not installed; the maximum differences are
printed. Environment: VAE_BIN (the command), VAE_LIBRARY and PYTHONPATH (python/vae),
VAE_FIXTURE_DIR, VAE_NODE_DIR (tests/export/node)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import vae

try:
    import onnx
except ImportError:
    onnx = None
try:
    import cv2
except ImportError:
    cv2 = None

VAE_BIN = os.environ["VAE_BIN"]
FIXTURES = os.environ["VAE_FIXTURE_DIR"]
NODE_DIR = os.environ.get("VAE_NODE_DIR", "")
TOL = 1e-5
ROWS = 7


def run(*args):
    return subprocess.run([VAE_BIN, *args], capture_output=True, text=True)


def train(folder, data, args):
    out = os.path.join(folder, "run")
    r = run("train", "--data", data, "--epochs", "1", "--batch-size", "16", "--threads", "1",
            "--out", out, *args)
    if r.returncode != 0:
        raise AssertionError(r.stdout + r.stderr)
    return os.path.join(out, "best.safetensors")


def onnx_export_available():
    r = run("export", "--help")
    return "not in this build" not in r.stdout


class Case:
    """A checkpoint, its ONNX graphs, inputs and vae.cpp's outputs for them."""

    def __init__(self, name, ckpt, folder, logits=False):
        self.name, self.ckpt = name, ckpt
        self.dir = os.path.join(folder, "onnx")
        r = run("export", ckpt, "--onnx", self.dir, *(["--logits"] if logits else []))
        if r.returncode != 0:
            raise AssertionError(r.stdout + r.stderr)
        m = vae.load(ckpt)
        rng = np.random.default_rng(2)
        self.x = rng.uniform(0, 1, size=(ROWS, m.input_dim)).astype(np.float32)
        self.z = rng.normal(size=(ROWS, m.latent_dim)).astype(np.float32)
        self.labels = np.arange(ROWS) % m.num_classes if m.num_classes > 0 else None
        self.y = (np.eye(m.num_classes, dtype=np.float32)[self.labels]
                  if m.num_classes > 0 else None)
        self.mu, self.logvar = m.encode(self.x, labels=self.labels)
        self.mean = m.decode(self.z, labels=self.labels)

    def inputs(self, which):
        first = {"encoder": ("x", self.x), "decoder": ("z", self.z)}[which]
        feeds = {first[0]: first[1]}
        if self.y is not None:
            feeds["y"] = self.y
        return feeds

    def wanted(self, which):
        return ({"mu": self.mu, "logvar": self.logvar} if which == "encoder"
                else {"mean": self.mean})


def max_diffs(case, runner):
    """{output: max |runtime − vae.cpp|} over both graphs."""
    diffs = {}
    for which in ("encoder", "decoder"):
        got = runner(os.path.join(case.dir, which + ".onnx"), case.inputs(which),
                     list(case.wanted(which)))
        for name, want in case.wanted(which).items():
            g = np.asarray(got[name], dtype=np.float32).reshape(want.shape)
            diffs[name] = float(np.max(np.abs(g - want)))
    return diffs


def run_opencv(path, feeds, outputs):
    net = cv2.dnn.readNetFromONNX(path)
    for name, value in feeds.items():
        net.setInput(value, name)
    return dict(zip(outputs, net.forward(outputs)))  # asked by name: OpenCV sorts its outputs


def run_ort(path, feeds, outputs):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({k: {"dims": list(v.shape), "data": [float(a) for a in v.ravel()]}
                   for k, v in feeds.items()}, f)
    try:
        r = subprocess.run(["node", os.path.join(NODE_DIR, "run_onnx.js"), path, f.name],
                           capture_output=True, text=True)
    finally:
        os.remove(f.name)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    out = json.loads(r.stdout)
    return {name: out[name]["data"] for name in outputs}


@unittest.skipUnless(onnx_export_available(), "this build has no ONNX export (libonnx-dev)")
class OnnxExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        vae.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(4)
        table = os.path.join(cls.tmp.name, "table.npy")
        np.save(table, rng.normal(3, 2, size=(64, 6)).astype(np.float32))
        images = os.path.join(cls.tmp.name, "images.npy")
        np.save(images, rng.uniform(0, 1, size=(64, 8, 8)).astype(np.float32))
        cls.cases = []
        gated = os.path.join(FIXTURES, "gated_mlp_8x8.json")  # 8x8 images, gated dense
        specs = [
            ("mlp gaussian, standardised", table,
             ["--hidden", "16,8", "--latent", "3", "--likelihood", "gaussian", "--activation",
              "elu"]),
            ("conv preset bernoulli", images, ["--arch", "conv", "--latent", "4"]),
            ("gated dense bernoulli", images, ["--config", gated]),
        ]
        for i, (name, data, args) in enumerate(specs):
            folder = os.path.join(cls.tmp.name, f"case{i}")
            os.makedirs(folder)
            cls.cases.append(Case(name, train(folder, data, args), folder))
        for i, (name, fixture) in enumerate([
                ("custom conv, conditional", "conv_iwae_conditional.safetensors"),
                ("mlp learned sigma, conditional", "mlp_gaussian_learned.safetensors")]):
            folder = os.path.join(cls.tmp.name, f"fixture{i}")
            os.makedirs(folder)
            cls.cases.append(Case(name, os.path.join(FIXTURES, "v1", fixture), folder))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_runtime(self, runtime, runner):
        for case in self.cases:
            diffs = max_diffs(case, runner)
            print(f"\n{runtime} vs vae.cpp, {case.name}: " +
                  ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()), file=sys.stderr)
            scale = max(1.0, float(np.max(np.abs(case.mean))))
            for name, d in diffs.items():
                self.assertLess(d, TOL * (scale if name == "mean" else 1.0),
                                f"{case.name}: {name}")

    @unittest.skipIf(onnx is None, "python3-onnx is not installed")
    def test_checker_full_check(self):
        for case in self.cases:
            for which in ("encoder", "decoder"):
                model = onnx.load(os.path.join(case.dir, which + ".onnx"))
                onnx.checker.check_model(model, full_check=True)
                dims = model.graph.input[0].type.tensor_type.shape.dim
                self.assertEqual(dims[0].dim_param, "N")  # the dynamic batch dimension

    @unittest.skipIf(cv2 is None, "python3-opencv is not installed")
    def test_opencv_dnn(self):
        self.check_runtime("OpenCV dnn", run_opencv)

    @unittest.skipUnless(NODE_DIR and os.path.isdir(os.path.join(NODE_DIR, "node_modules")),
                         "onnxruntime-node is not installed (scripts/setup.sh --with-test-tools)")
    def test_onnx_runtime(self):
        self.check_runtime("ONNX Runtime", run_ort)

    def test_logits_flag_gives_the_raw_output(self):
        case = self.cases[1]  # Bernoulli, no scaling: mean = sigmoid(logits)
        folder = os.path.join(self.tmp.name, "logits")
        os.makedirs(folder, exist_ok=True)
        r = run("export", case.ckpt, "--onnx", folder, "--logits")
        self.assertEqual(r.returncode, 0, r.stderr)
        if onnx is not None:
            model = onnx.load(os.path.join(folder, "decoder.onnx"))
            self.assertEqual([o.name for o in model.graph.output], ["logits"])
        if cv2 is not None:
            got = run_opencv(os.path.join(folder, "decoder.onnx"), {"z": case.z}, ["logits"])
            mean = 1 / (1 + np.exp(-got["logits"].astype(np.float64)))
            self.assertLess(float(np.max(np.abs(mean - case.mean))), TOL)

    def test_usage_errors(self):
        r = run("export", self.cases[0].ckpt)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--onnx", r.stderr)
        r = run("export", self.cases[0].ckpt, "--onnx", self.tmp.name, "--weights-only")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()

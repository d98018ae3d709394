"""vae.torch (python/vae/torch.py): a checkpoint as a torch.nn.Module gives what vae.cpp gives
(the C API, through the vae package) for the same inputs: μ, log σ² and the decoder means within
1e-5, for an MLP, the conv preset, a gated dense MLP, a custom conv model (conditional) and a
Gaussian with learned σ (conditional, standardised), and for a VampPrior MLP also −log p(x) by
importance sampling on both sides; a two-layer model is refused by name. The MLP, conv-preset,
gated, VampPrior and two-layer checkpoints are trained for one epoch by the `vae` command named by
$VAE_BIN; those tests skip without it. Everything skips without python3-torch. The maximum differences are printed."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import vae
from vae import safetensors

try:
    import torch
    from vae import torch as vt
except ImportError as e:  # python3-torch absent
    torch = None
    TORCH_MISSING = f"PyTorch is not installed (Debian: python3-torch): {e}"

FIXTURES = os.environ.get(
    "VAE_FIXTURE_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
VAE_BIN = os.environ.get("VAE_BIN", "")
TOL = 1e-5


def train_checkpoint(folder, args, images):
    """A checkpoint of a one-epoch `vae train` on 64 random 8x8 images (or 6-value rows)."""
    rng = np.random.default_rng(5)
    shape = (64, 8, 8) if images else (64, 6)
    data = os.path.join(folder, "data.npy")
    np.save(data, rng.uniform(0, 1, size=shape).astype(np.float32))
    out = os.path.join(folder, "run")
    subprocess.run([VAE_BIN, "train", "--data", data, "--epochs", "1", "--batch-size", "16",
                    "--threads", "1", "--out", out] + args, check=True, capture_output=True)
    return os.path.join(out, "best.safetensors")


def compare(test, path, name):
    """Encodes and decodes 5 rows with both; returns the max |difference| of μ, log σ², mean."""
    torch.manual_seed(0)
    model = vt.load(path)
    ref = vae.load(path)
    cfg = model.config
    labels = np.arange(5) % cfg["num_classes"] if cfg["num_classes"] else None
    rng = np.random.default_rng(1)
    x_model = torch.from_numpy(rng.uniform(0, 1, size=(5, cfg["input_dim"])).astype(np.float32))
    x = model.unscale(x_model).detach().numpy()
    z = rng.normal(size=(5, cfg["latent"])).astype(np.float32)
    with torch.no_grad():
        mu, logvar = model.encode(model.scale(torch.from_numpy(x)), labels)
        mean = model.unscale(model.mean(model.decode(torch.from_numpy(z), labels)))
    want_mu, want_logvar = ref.encode(x, labels=labels)
    want_mean = ref.decode(z, labels=labels)
    diffs = [float(np.max(np.abs(a.numpy() - b)))
             for a, b in ((mu, want_mu), (logvar, want_logvar), (mean, want_mean))]
    print(f"\n{name}: torch vs vae.cpp max |diff| mu {diffs[0]:.3g} logvar {diffs[1]:.3g} "
          f"mean {diffs[2]:.3g}", file=sys.stderr)
    scale = max(1.0, float(np.max(np.abs(want_mean))))
    test.assertLess(diffs[0], TOL)
    test.assertLess(diffs[1], TOL)
    test.assertLess(diffs[2], TOL * scale)  # data units: relative to the values' size
    test.assertGreater(float(np.max(np.abs(want_mu))), 0.0)
    return diffs


@unittest.skipIf(torch is None, TORCH_MISSING if torch is None else "")
class TorchModuleTest(unittest.TestCase):
    def setUp(self):
        torch.set_num_threads(1)
        vae.set_num_threads(1)
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_custom_conv_conditional_fixture(self):
        compare(self, os.path.join(FIXTURES, "v1", "conv_iwae_conditional.safetensors"),
                "custom conv, conditional")

    def test_gaussian_learned_sigma_conditional_fixture(self):
        path = os.path.join(FIXTURES, "v1", "mlp_gaussian_learned.safetensors")
        compare(self, path, "mlp gaussian learned sigma, conditional")
        tensors, _ = safetensors.load(path)
        np.testing.assert_array_equal(vt.load(path).decoder.logsigma.detach().numpy(),
                                      tensors["decoder.logsigma"])

    @unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
    def test_mlp(self):
        path = train_checkpoint(self.tmp.name, ["--hidden", "16,8", "--latent", "3"], False)
        compare(self, path, "mlp bernoulli")

    @unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
    def test_gated_dense(self):
        config = os.path.join(FIXTURES, "gated_mlp_8x8.json")  # 8x8 images, gated dense
        path = train_checkpoint(self.tmp.name, ["--config", config], True)
        self.assertIsInstance(getattr(vt.load(path).encoder, "0"), vt.GatedDense)
        compare(self, path, "gated dense bernoulli")

    @unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
    def test_conv_preset(self):
        path = train_checkpoint(self.tmp.name, ["--arch", "conv", "--latent", "4"], True)
        self.assertEqual(vt.load(path).config["arch"], "conv")
        compare(self, path, "conv preset bernoulli")

    @unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
    def test_vamp_prior(self):
        path = train_checkpoint(self.tmp.name, ["--hidden", "16", "--latent", "2", "--prior", "vamp",
                                                "--pseudo-inputs", "7", "--scale", "none"], False)
        model = vt.load(path)
        self.assertEqual(tuple(model.prior.pseudo_inputs.shape), (7, 6))
        compare(self, path, "mlp bernoulli, vamp prior")
        # −log p(x) by importance sampling on both sides, 20000 samples each: the two estimates
        # of one number agree within their standard errors (torch's, by the delta method)
        x = np.random.default_rng(2).uniform(0, 1, size=(3, 6)).astype(np.float32)
        k = 20000
        with torch.no_grad():
            logw = model.iw_log_weights(torch.from_numpy(x), k=k,
                                        generator=torch.Generator().manual_seed(0)).double()
        w = torch.exp(logw - logw.max(1, keepdim=True).values)
        se = (w.std(1) / (w.mean(1) * np.sqrt(k))).numpy()
        mine = (np.log(k) - torch.logsumexp(logw, 1)).numpy()
        want = vae.load(path).score(x, importance_samples=k, seed=11)
        print(f"\nvamp IW: torch {mine} vae.cpp {want} standard error {se}", file=sys.stderr)
        np.testing.assert_array_less(np.abs(mine - want), 4 * np.sqrt(2) * se + 1e-4)
        with torch.no_grad():
            # log p(z) is a density: on a fine grid over a wide square it integrates to 1
            mu, logvar = model.encode(model.prior.pseudo_inputs)
            half = float((mu.abs() + 8 * torch.exp(0.5 * logvar)).max())
            axis = torch.linspace(-half, half, 801, dtype=torch.float64)
            grid = torch.cartesian_prod(axis, axis).float()
            mass = float(torch.exp(model.log_prior(grid).double()).sum()) * float(axis[1] - axis[0]) ** 2
            self.assertAlmostEqual(mass, 1.0, delta=2e-3)
            # sample_prior draws the mixture: the draws' mean is (1/K) Σ_k μ_k within 4 SE
            z = model.sample_prior(40000, torch.Generator().manual_seed(1)).double()
            se = z.std(0) / np.sqrt(z.shape[0])
            np.testing.assert_array_less((z.mean(0) - mu.double().mean(0)).abs().numpy(),
                                         (4 * se).numpy())

    @unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
    def test_two_layer_model_is_refused_by_name(self):
        path = train_checkpoint(self.tmp.name, ["--hidden", "8", "--latent", "3",
                                                "--top-latent", "1"], False)
        with self.assertRaisesRegex(ValueError, "^top_latent: "):
            vt.load(path)

    def test_strict_load_names_a_missing_tensor(self):
        path = os.path.join(FIXTURES, "v1", "mlp_gaussian_learned.safetensors")
        tensors, meta = safetensors.load(path)
        del tensors["encoder.mu.bias"]
        broken = os.path.join(self.tmp.name, "broken.safetensors")
        safetensors.save(broken, tensors, meta)
        with self.assertRaisesRegex(RuntimeError, "encoder.mu.bias"):
            vt.load(broken)


def train_in_torch(model, x, y, steps):
    """`steps` Adam steps on the negative ELBO; returns the last loss."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = model.negative_elbo(x, y).mean()
        loss.backward()
        opt.step()
    return float(loss)


@unittest.skipIf(torch is None, TORCH_MISSING if torch is None else "")
@unittest.skipUnless(VAE_BIN, "VAE_BIN (the vae command) not set")
class TorchImportTest(unittest.TestCase):
    """PyTorch in: a model trained a few steps in PyTorch, saved with save_weights, brought in
    by `vae import`, gives the same outputs in vae.cpp, and `vae train --init-from` trains on."""

    def setUp(self):
        torch.manual_seed(3)
        torch.set_num_threads(1)
        vae.set_num_threads(1)
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def vae_cmd(self, *args):
        return subprocess.run([VAE_BIN, *args], capture_output=True, text=True)

    def import_model(self, desc, x, y):
        model = vt.VAE(vt.config_from_description(desc))
        train_in_torch(model, x, y, 30)
        weights = os.path.join(self.tmp.name, "state.safetensors")
        config = os.path.join(self.tmp.name, "model.json")
        vt.save_weights(model, weights)
        with open(config, "w") as f:
            json.dump(vt.description(model.config), f)
        out = os.path.join(self.tmp.name, "imported.safetensors")
        r = self.vae_cmd("import", "--weights", weights, "--config", config, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return model, out

    def same_outputs(self, model, path, x, labels, name):
        ref = vae.load(path)
        z = np.random.default_rng(0).normal(size=(x.shape[0], ref.latent_dim)).astype(np.float32)
        with torch.no_grad():
            mu, logvar = model.encode(x, labels)
            mean = model.mean(model.decode(torch.from_numpy(z), labels))
        want_mu, want_logvar = ref.encode(x.numpy(), labels=labels)
        diffs = [float(np.max(np.abs(a.numpy() - b))) for a, b in
                 ((mu, want_mu), (logvar, want_logvar), (mean, ref.decode(z, labels=labels)))]
        print(f"\nimported {name}: vae.cpp vs torch max |diff| mu {diffs[0]:.3g} logvar "
              f"{diffs[1]:.3g} mean {diffs[2]:.3g}", file=sys.stderr)
        for d in diffs:
            self.assertLess(d, TOL)

    def test_mlp_trained_in_torch_imports_and_fine_tunes(self):
        x = torch.rand(64, 6)
        desc = {"input_dim": 6, "hidden": [12], "latent": 2, "likelihood": "gaussian",
                "sigma": "learned"}
        model, path = self.import_model(desc, x, None)
        self.same_outputs(model, path, x, None, "mlp gaussian learned sigma")
        data = os.path.join(self.tmp.name, "table.npy")
        np.save(data, x.numpy())
        losses = {}
        for name, extra in (("init", ["--init-from", path]), ("fresh", [])):
            out = os.path.join(self.tmp.name, name)
            r = self.vae_cmd("train", "--data", data, "--scale", "none", "--epochs", "2",
                             "--batch-size", "16", "--threads", "1", "--out", out, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "metrics.jsonl")) as f:
                losses[name] = [json.loads(line)["train_loss"] for line in f]
        # started from the PyTorch-trained weights: far below a fresh run's first epoch
        self.assertLess(losses["init"][0], losses["fresh"][0])
        self.assertTrue(all(np.isfinite(losses["init"])))
        r = self.vae_cmd("train", "--resume", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--init-from", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_conditional_conv_trained_in_torch_imports(self):
        x = torch.rand(32, 64)
        y = torch.arange(32) % 3
        desc = {"image": [1, 8, 8], "num_classes": 3, "latent": 3,
                "encoder": [{"type": "conv", "channels": 4, "kernel": 4, "stride": 2,
                             "padding": 1}, {"type": "dense", "units": 16}],
                "decoder": [{"type": "dense", "units": 64}, {"type": "reshape",
                                                            "shape": [4, 4, 4]},
                            {"type": "conv_transpose", "channels": 1, "kernel": 4, "stride": 2,
                             "padding": 1}]}
        model, path = self.import_model(desc, x, y)
        self.same_outputs(model, path, x, y.numpy(), "custom conv, conditional")


    def test_vamp_trained_in_torch_imports(self):
        x = torch.rand(48, 6)
        desc = {"input_dim": 6, "hidden": [10], "latent": 2, "prior": "vamp", "pseudo_inputs": 5}
        model, path = self.import_model(desc, x, None)
        self.same_outputs(model, path, x, None, "mlp bernoulli, vamp prior")
        tensors, meta = safetensors.load(path)
        np.testing.assert_array_equal(tensors["prior.pseudo_inputs"],
                                      model.prior.pseudo_inputs.detach().numpy())
        self.assertEqual(json.loads(meta["model"])["prior"], "vamp")


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            a = np.arange(6, dtype=np.float32).reshape(2, 3)
            b = np.array(7, dtype=np.int64)
            safetensors.save(path, {"a": a, "b": b}, {"k": "v"})
            tensors, meta = safetensors.load(path)
            np.testing.assert_array_equal(tensors["a"], a)
            self.assertEqual(tensors["b"].shape, ())
            self.assertEqual(meta, {"k": "v"})
            # vae.cpp reads what it wrote: a checkpoint's tensors and metadata survive
            src = os.path.join(FIXTURES, "v1", "mlp_gaussian_learned.safetensors")
            t2, m2 = safetensors.load(src)
            copy = os.path.join(tmp, "copy.safetensors")
            safetensors.save(copy, t2, m2)
            np.testing.assert_array_equal(vae.load(copy).decode(np.zeros((1, 2), np.float32), 0),
                                          vae.load(src).decode(np.zeros((1, 2), np.float32), 0))

    def test_truncated_file_is_an_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            with open(os.path.join(FIXTURES, "v1", "z2.npy"), "rb") as f:
                open(path, "wb").write(f.read()[:20])
            with self.assertRaises(safetensors.SafetensorsError):
                safetensors.load(path)


if __name__ == "__main__":
    unittest.main()

"""The Python package (python/vae) over the C API, on the format-1 fixture: a conditional
6-column table model with standardised data (tests/fixtures/v1). Run by CTest against the build
tree (PYTHONPATH=python, VAE_LIBRARY=libvae_c.so) and by scripts/check-install.sh against an
install (PYTHONPATH=the prefix's site-packages)."""
import os
import threading
import unittest

import numpy as np

import vae

FIXTURES = os.environ.get(
    "VAE_FIXTURE_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
CKPT = os.path.join(FIXTURES, "v1", "mlp_gaussian_learned.safetensors")


class ModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        vae.set_num_threads(1)
        cls.m = vae.load(CKPT)

    def rows(self, n, seed=0):
        # Raw table rows: the fixture's columns hold values around 1..6.
        return np.random.default_rng(seed).normal(3.0, 1.5, size=(n, 6)).astype(np.float32)

    def test_sizes(self):
        self.assertEqual((self.m.input_dim, self.m.latent_dim, self.m.num_classes), (6, 2, 3))
        self.assertTrue(vae.version())

    def test_decode_gives_what_the_command_wrote(self):
        z = np.load(os.path.join(FIXTURES, "v1", "z2.npy"))
        want = np.load(os.path.join(FIXTURES, "v1", "mlp_decoded.npy"))
        got = self.m.decode(z, labels=1)
        self.assertEqual(got.shape, (4, 6))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)

    def test_encode_decode_reconstruct_agree(self):
        x = self.rows(5)
        y = np.array([0, 1, 2, 1, 0])
        mu, logvar = self.m.encode(x, labels=y)
        self.assertEqual(mu.shape, (5, 2))
        self.assertEqual(logvar.shape, (5, 2))
        np.testing.assert_array_equal(self.m.reconstruct(x, labels=y), self.m.decode(mu, labels=y))
        one_mu, _ = self.m.encode(x[2], labels=[2])  # a 1-D row is a batch of one
        np.testing.assert_allclose(one_mu[0], mu[2], rtol=1e-5, atol=1e-6)  # gemv vs gemm

    def test_sample_and_score(self):
        a = self.m.sample(3, seed=9, labels=0)
        np.testing.assert_array_equal(a, self.m.sample(3, seed=9, labels=0))
        self.assertEqual(a.shape, (3, 6))
        x = self.rows(4, seed=1)
        elbo = self.m.score(x, labels=0)
        iw = self.m.score(x, importance_samples=64, labels=0)
        self.assertEqual(elbo.shape, (4,))
        self.assertTrue(np.all(np.isfinite(elbo)) and np.all(np.isfinite(iw)))
        self.assertLess(iw.mean(), elbo.mean() + 1.0)  # -log p <= -ELBO, up to noise

    def test_errors_carry_the_librarys_message(self):
        with self.assertRaisesRegex(vae.Error, "needs one label per row"):
            self.m.encode(self.rows(2))
        with self.assertRaisesRegex(vae.Error, "x: has 5 columns, the model's data size is 6"):
            self.m.encode(np.zeros((2, 5)), labels=0)
        with self.assertRaisesRegex(vae.Error, r"labels\[0\]: must be in 0..2, got 7"):
            self.m.decode(np.zeros((1, 2)), labels=7)
        with self.assertRaisesRegex(vae.Error, "missing.safetensors"):
            vae.load(os.path.join(FIXTURES, "missing.safetensors"))

    def test_threads_share_one_model(self):
        xs = [self.rows(1 + i % 5, seed=i) for i in range(32)]
        serial = [self.m.encode(x, labels=1)[0] for x in xs]
        results = [None] * len(xs)

        def work(t):
            for i in range(t, len(xs), 4):
                results[i] = self.m.encode(xs[i], labels=1)[0]

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for got, want in zip(results, serial):
            np.testing.assert_array_equal(got, want)


if __name__ == "__main__":
    unittest.main()

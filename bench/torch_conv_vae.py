#!/usr/bin/env python3
"""Peer for side-by-side comparison: `vae train --arch conv` (the conv preset of docs/models.md)
written in PyTorch, on Fashion-MNIST. Same structure and output as ../shared/peers/torch_vae.py.

  encoder  Conv2d(1,32,4,2,1) ReLU, Conv2d(32,64,4,2,1) ReLU, flatten, Linear(3136,256) ReLU,
           heads Linear(256,20) for mu and for log sigma^2
  decoder  Linear(20,256) ReLU, Linear(256,3136) ReLU, view(64,7,7),
           ConvTranspose2d(64,32,4,2,1) ReLU, ConvTranspose2d(32,1,4,2,1) -> logits
  loss     Bernoulli likelihood on continuous pixels (BCE with logits, summed) + analytic KL;
           Adam 1e-3, batch 128.

Set-up (Debian 12): apt-get install python3-torch dataset-fashion-mnist
Run with Debian's interpreter:  /usr/bin/python3 torch_conv_vae.py --epochs 1 --threads 1
Prints one line per epoch and a final JSON line with the figures to compare.
"""
import argparse, gzip, json, os, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--latent", type=int, default=20)
p.add_argument("--data", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
p.add_argument("--seed", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

def idx_images(name):
    with gzip.open(os.path.join(a.data, name)) as f:
        raw = f.read()
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)

xtr, xte = idx_images("train-images-idx3-ubyte.gz"), idx_images("t10k-images-idx3-ubyte.gz")

class ConvVAE(nn.Module):
    def __init__(self, z=a.latent):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(3136, 256), nn.ReLU())
        self.mu, self.logvar = nn.Linear(256, z), nn.Linear(256, z)
        self.dec_dense = nn.Sequential(nn.Linear(z, 256), nn.ReLU(), nn.Linear(256, 3136), nn.ReLU())
        self.dec_conv = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))
    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec_conv(self.dec_dense(z).view(-1, 64, 7, 7)), mu, logvar

def neg_elbo(out, x):  # summed over the batch, nats
    logits, mu, logvar = out
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return recon + kl

model = ConvVAE()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
train_s = 0.0
for epoch in range(1, a.epochs + 1):
    t0, total = time.perf_counter(), 0.0
    for i, batch in enumerate(torch.randperm(len(xtr)).split(a.batch_size)):
        x = xtr[batch]
        opt.zero_grad()
        loss = neg_elbo(model(x), x)
        loss.backward()
        opt.step()
        total += loss.item()
    train_s += time.perf_counter() - t0
    with torch.no_grad():
        test = sum(neg_elbo(model(xb), xb).item() for xb in xte.split(1000)) / len(xte)
    print(f"epoch {epoch} train_loss {total / len(xtr):.2f} test_loss {test:.2f} epoch_s {time.perf_counter() - t0:.2f}", flush=True)
print(json.dumps({"peer": "pytorch " + torch.__version__ + " conv", "threads": a.threads, "batch_size": a.batch_size,
                  "epochs": a.epochs, "test_loss": round(test, 2), "train_examples_per_s": round(a.epochs * len(xtr) / train_s)}))

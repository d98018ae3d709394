"""vae.cpp checkpoints as torch.nn.Modules, and back.

    from vae import torch as vt
    model = vt.load("runs/mnist/best.safetensors")   # a VAE, weights loaded (strict)
    mu, logvar = model.encode(model.scale(x))           # x (B, D) in data units
    x_hat = model.unscale(model.mean(model.decode(mu))) # (B, D) decoder means, data units
    nll = model.iw_nll(model.scale(x), k=5000)          # (B,) −log p̂(x), nats (model units)

    model = vt.VAE(vt.config_from_description(desc))    # a fresh model to train in PyTorch
    vt.save_weights(model, "state.safetensors")         # then: vae import --weights ...

Legend: B batch, D data size (C·H·W for images), Z latent size, Y classes, K the VampPrior's
pseudo-inputs, S importance samples.

The module mirrors src/model/plan.cpp: parameter names are vae.cpp's ("encoder.0.weight",
"encoder.mu.bias", "decoder.out.weight", "decoder.logsigma"), layouts are PyTorch's (a layer's
index is its place in its list, reshape layers included; the decoder's last layer is "out").
  encoder  each layer then the activation (none after a gated dense layer, whose gate is its
           nonlinearity, nor after a reshape); a dense or gated dense layer reads its input
           flattened, and the first one of a conditional model reads [x, one-hot(y)]
  heads    mu, logvar: dense from the features (with the one-hot when no encoder layer took it)
  decoder  [z, one-hot(y)] into its first (dense or gated dense) layer; the activation after
           every layer but the last ("out"), which gives Bernoulli logits or the Gaussian mean
           (B, D)
  prior    p(z): N(0, I), or with "prior": "vamp" the VampPrior (src/model/priors/vamp.h):
           (1/K) Σ_k q(z | u_k) over the parameter "prior.pseudo_inputs" u (K, D), model units
The model works in model units; scale() / unscale() apply the checkpoint's data scaling
(x_model = (x − offset) · factor, clamped to [0, 1] when the checkpoint says so).
"""
import json

import numpy as np
import torch
from torch import nn

from . import safetensors

__all__ = ["VAE", "load", "config_from_metadata", "config_from_description", "description",
           "save_weights"]

_ACTIVATIONS = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU,
}


def _mlp_layers(cfg):
    enc = [{"type": "dense", "units": h} for h in cfg["hidden"]]
    dec = [{"type": "dense", "units": h} for h in reversed(cfg["hidden"])]
    return enc, dec + [{"type": "dense", "units": cfg["input_dim"]}]


def _conv_preset(cfg):
    """set_conv_preset (src/model/config.cpp) for the config's image geometry."""
    h, w = cfg["height"], cfg["width"]
    k1 = 4 if h % 2 == 0 else 3
    h1, w1 = (h + 2 - k1) // 2 + 1, (w + 2 - k1) // 2 + 1
    k2 = 4 if h1 % 2 == 0 else 3
    h2, w2 = (h1 + 2 - k2) // 2 + 1, (w1 + 2 - k2) // 2 + 1

    def conv(t, c, k):
        return {"type": t, "channels": c, "kernel": k, "stride": 2, "padding": 1}
    enc = [conv("conv", 32, k1), conv("conv", 64, k2), {"type": "dense", "units": 256}]
    dec = [{"type": "dense", "units": 256}, {"type": "dense", "units": 64 * h2 * w2},
           {"type": "reshape", "shape": [64, h2, w2]}, conv("conv_transpose", 32, k2),
           conv("conv_transpose", cfg["channels"], k1)]
    return enc, dec


def _normalise(cfg):
    """cfg with explicit "encoder_layers" and "decoder_layers" whatever its arch."""
    cfg = dict(cfg)
    arch = cfg.get("arch", "mlp")
    if arch == "mlp":
        cfg["encoder_layers"], cfg["decoder_layers"] = _mlp_layers(cfg)
    elif arch == "conv" and "encoder_layers" not in cfg:
        cfg["encoder_layers"], cfg["decoder_layers"] = _conv_preset(cfg)
    cfg.setdefault("num_classes", 0)
    cfg.setdefault("learn_sigma", False)
    # a checkpoint says "standard_normal" (the prior row's json_name), a description "standard"
    cfg["prior"] = {"standard_normal": "standard"}.get(cfg.get("prior"), cfg.get("prior", "standard"))
    if cfg["prior"] == "vamp":
        cfg.setdefault("pseudo_inputs", 500)
    return cfg


def config_from_metadata(metadata):
    """The model config (a dict, ModelConfig's JSON) of a checkpoint's metadata."""
    if "model" not in metadata:
        raise ValueError("not a vae.cpp checkpoint (metadata has no 'model')")
    if json.loads(metadata["model"]).get("top_latent", 0) > 0:
        raise ValueError("top_latent: a two-layer model (top_latent > 0) has no PyTorch form here")
    return _normalise(json.loads(metadata["model"]))


def config_from_description(desc):
    """A model config from the JSON `vae import --config` reads (a dict): a model description
    (encoder/decoder lists or hidden, latent, activation, likelihood, sigma, prior,
    pseudo_inputs) with the data's
    shape: "input_dim" or "image": [C, H, W], and "num_classes" (0: not conditional);
    "arch": "conv" asks for the conv preset."""
    cfg = {"hidden": [400], "latent": 20, "activation": "relu", "likelihood": "bernoulli",
           "sigma": 1.0, "learn_sigma": False, "num_classes": desc.get("num_classes", 0),
           "channels": 0, "height": 0, "width": 0, "arch": desc.get("arch", "mlp")}
    if "image" in desc:
        cfg["channels"], cfg["height"], cfg["width"] = desc["image"]
        cfg["input_dim"] = cfg["channels"] * cfg["height"] * cfg["width"]
    else:
        cfg["input_dim"] = desc["input_dim"]
    for key in ("hidden", "latent", "activation", "likelihood", "prior", "pseudo_inputs"):
        if key in desc:
            cfg[key] = desc[key]
    if desc.get("sigma") == "learned":
        cfg["learn_sigma"] = True
    elif "sigma" in desc:
        cfg["sigma"] = desc["sigma"]
    if "encoder" in desc:
        cfg["arch"] = "custom"
        cfg["encoder_layers"], cfg["decoder_layers"] = desc["encoder"], desc["decoder"]
    return _normalise(cfg)


def description(cfg):
    """The JSON object `vae import --config` reads for a model config (the inverse of
    config_from_description)."""
    d = {"latent": cfg["latent"], "activation": cfg["activation"],
         "likelihood": cfg["likelihood"], "num_classes": cfg.get("num_classes", 0)}
    if cfg.get("channels", 0) > 0:
        d["image"] = [cfg["channels"], cfg["height"], cfg["width"]]
    else:
        d["input_dim"] = cfg["input_dim"]
    if cfg["likelihood"] == "gaussian":
        d["sigma"] = "learned" if cfg.get("learn_sigma") else cfg["sigma"]
    if cfg.get("prior", "standard") != "standard":
        d["prior"], d["pseudo_inputs"] = cfg["prior"], cfg["pseudo_inputs"]
    arch = cfg.get("arch", "mlp")
    if arch == "mlp":
        d["hidden"] = list(cfg["hidden"])
    elif arch == "conv":
        d["arch"] = "conv"
    else:
        d["encoder"], d["decoder"] = cfg["encoder_layers"], cfg["decoder_layers"]
    return d


class GatedDense(nn.Module):
    """y = (x Wᵀ + b) ⊙ σ(x Gᵀ + c) (src/nn/layers/gated_dense.h): parameters weight, bias,
    gate_weight, gate_bias, each initialised as torch.nn.Linear's."""

    def __init__(self, in_features, out_features):
        super().__init__()
        h, g = nn.Linear(in_features, out_features), nn.Linear(in_features, out_features)
        self.weight, self.bias = h.weight, h.bias
        self.gate_weight, self.gate_bias = g.weight, g.bias

    def forward(self, x):
        a = nn.functional.linear(x, self.weight, self.bias)
        return a * torch.sigmoid(nn.functional.linear(x, self.gate_weight, self.gate_bias))


_FLAT = ("dense", "gated_dense")  # the kinds that read their input flattened (and the one-hot)
_NO_ACTIVATION_AFTER = ("gated_dense", "reshape")


def _layer(spec, shape, cond):
    """The torch layer for one layer spec reading `shape` (C, H, W) (+ cond one-hot values),
    and its output shape."""
    c, h, w = shape
    t = spec["type"]
    if t == "dense":
        return nn.Linear(c * h * w + cond, spec["units"]), (spec["units"], 1, 1)
    if t == "gated_dense":
        return GatedDense(c * h * w + cond, spec["units"]), (spec["units"], 1, 1)
    if t == "reshape":
        return nn.Unflatten(1, tuple(spec["shape"])), tuple(spec["shape"])
    k, s, p = spec["kernel"], spec.get("stride", 1), spec.get("padding", 0)
    o = spec["channels"]
    if t == "conv":
        return nn.Conv2d(c, o, k, s, p), (o, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if t == "conv_transpose":
        op = spec.get("output_padding", 0)
        return (nn.ConvTranspose2d(c, o, k, s, p, op),
                (o, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op))
    raise ValueError(f"unknown layer type '{t}'")


class _Stack(nn.Module):
    """An encoder or decoder: its layers as children "0", "1", …, ("out" for the decoder's
    last), in order."""

    def __init__(self, specs, shape, cond, activation, last_name=None):
        super().__init__()
        self.order, self.flat, self.act_after, self.takes = [], [], [], None
        for i, spec in enumerate(specs):
            name = last_name if last_name and i == len(specs) - 1 else str(i)
            takes = cond if spec["type"] in _FLAT and self.takes is None and cond else 0
            if takes:
                self.takes = name
            layer, shape = _layer(spec, shape, takes)
            self.add_module(name, layer)
            self.order.append(name)
            self.flat.append(spec["type"] in _FLAT)
            self.act_after.append(spec["type"] not in _NO_ACTIVATION_AFTER)
        self.shape = shape
        self.act = _ACTIVATIONS[activation]()
        self.last_act = last_name is None  # the decoder's output layer has none

    def forward(self, x, onehot):
        for i, name in enumerate(self.order):
            if self.flat[i]:
                x = torch.flatten(x, 1)
            if name == self.takes:
                x = torch.cat([x, onehot], 1)
            x = getattr(self, name)(x)
            if self.act_after[i] and (self.last_act or i < len(self.order) - 1):
                x = self.act(x)
        return x


def _log_normal(z, mu, logvar):
    """log N(z; μ, diag(exp(log σ²))) summed over the last axis."""
    return -0.5 * ((z - mu) ** 2 * torch.exp(-logvar) + logvar + float(np.log(2 * np.pi))).sum(-1)


class VAE(nn.Module):
    """The vae.cpp model for a config dict (config_from_metadata, config_from_description)."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg = _normalise(cfg)
        Y, Z, D = cfg["num_classes"], cfg["latent"], cfg["input_dim"]
        image = cfg.get("channels", 0) > 0
        shape = (cfg["channels"], cfg["height"], cfg["width"]) if image else (D, 1, 1)
        self.image_shape = shape if image else None
        self.encoder = _Stack(cfg["encoder_layers"], shape, Y, cfg["activation"])
        features = int(np.prod(self.encoder.shape))
        self.heads_take = Y if self.encoder.takes is None else 0
        self.encoder.add_module("mu", nn.Linear(features + self.heads_take, Z))
        self.encoder.add_module("logvar", nn.Linear(features + self.heads_take, Z))
        if Y and cfg["decoder_layers"][0]["type"] != "dense":
            raise ValueError("decoder: a conditional decoder must start with a dense layer")
        self.decoder = _Stack(cfg["decoder_layers"], (Z, 1, 1), Y, cfg["activation"], "out")
        if cfg["likelihood"] == "gaussian" and cfg.get("learn_sigma"):
            self.decoder.logsigma = nn.Parameter(torch.zeros(D))
        if cfg["prior"] == "vamp":
            if Y:
                raise ValueError("prior: the VampPrior needs an unconditional model")
            # u_kd ~ N(0.05, 0.01²), as vae.cpp initialises them (src/model/priors/priors.h)
            self.prior = nn.Module()
            self.prior.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(cfg["pseudo_inputs"], D))
        elif cfg["prior"] != "standard":
            raise ValueError(f"prior: unknown prior '{cfg['prior']}'")
        self.register_buffer("data_offset", torch.zeros(0), persistent=False)
        self.register_buffer("data_factor", torch.zeros(0), persistent=False)
        self.clamp01 = False

    def _onehot(self, y, rows):
        Y = self.config["num_classes"]
        if not Y:
            return None
        if y is None:
            raise ValueError("labels: the model is conditional and needs one label per row")
        y = torch.as_tensor(y, dtype=torch.long).expand(rows)
        return nn.functional.one_hot(y, Y).to(torch.get_default_dtype())

    def encode(self, x, y=None):
        """(mu, logvar), each (B, Z), for x (B, D) in model units."""
        onehot = self._onehot(y, x.shape[0])
        if self.image_shape:
            x = x.reshape(x.shape[0], *self.image_shape)
        h = torch.flatten(self.encoder(x, onehot), 1)
        if self.heads_take:
            h = torch.cat([h, onehot], 1)
        return self.encoder.mu(h), self.encoder.logvar(h)

    def decode(self, z, y=None):
        """The decoder's output (B, D): Bernoulli logits or the Gaussian mean."""
        return torch.flatten(self.decoder(z, self._onehot(y, z.shape[0])), 1)

    def mean(self, out):
        """The decoder mean from its output: sigmoid of the logits for Bernoulli."""
        return torch.sigmoid(out) if self.config["likelihood"] == "bernoulli" else out

    def forward(self, x, y=None, eps=None):
        """(out, mu, logvar) with z = mu + exp(½ logvar) ⊙ eps, eps ~ N(0, I) when not given."""
        mu, logvar = self.encode(x, y)
        eps = torch.randn_like(mu) if eps is None else eps
        return self.decode(mu + torch.exp(0.5 * logvar) * eps, y), mu, logvar

    def recon_nll(self, out, x):
        """−log p(x|z) per example (B,) from the decoder's output, nats."""
        if self.config["likelihood"] == "bernoulli":
            nll = nn.functional.softplus(out) - x * out
        else:
            s = self.decoder.logsigma if self.config.get("learn_sigma") else \
                torch.tensor(float(np.log(self.config["sigma"])))
            nll = 0.5 * (x - out) ** 2 * torch.exp(-2 * s) + s + 0.5 * np.log(2 * np.pi)
        return nll.sum(1)

    def log_prior(self, z):
        """log p(z) per row (B,) for z (B, Z): N(0, I), or the VampPrior's mixture
        log (1/K) Σ_k N(z; μ_k, σ²_k) with (μ_k, log σ²_k) = encode(u_k)."""
        if self.config["prior"] == "standard":
            return _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        mu, logvar = self.encode(self.prior.pseudo_inputs)  # (K, Z) each
        logq = _log_normal(z[:, None, :], mu[None], logvar[None])  # (B, K)
        return torch.logsumexp(logq, 1) - float(np.log(mu.shape[0]))

    def sample_prior(self, n, generator=None):
        """n draws z (n, Z) from p(z): N(0, I), or k ~ U{1..K} then N(μ_k, σ²_k)."""
        Z = self.config["latent"]
        eps = torch.randn(n, Z, generator=generator)
        if self.config["prior"] == "standard":
            return eps
        mu, logvar = self.encode(self.prior.pseudo_inputs)
        k = torch.randint(mu.shape[0], (n,), generator=generator)
        return mu[k] + torch.exp(0.5 * logvar[k]) * eps

    def negative_elbo(self, x, y=None, eps=None):
        """Per example (B,): −log p(x|z) + KL, nats, as vae.cpp's objective: the KL in closed
        form against N(0, I), or for the VampPrior log q(z|x) − log p(z) at the drawn z."""
        mu, logvar = self.encode(x, y)
        eps = torch.randn_like(mu) if eps is None else eps
        z = mu + torch.exp(0.5 * logvar) * eps
        nll = self.recon_nll(self.decode(z, y), x)
        if self.config["prior"] == "standard":
            return nll + (0.5 * (torch.exp(logvar) + mu ** 2 - 1 - logvar)).sum(1)
        return nll + _log_normal(z, mu, logvar) - self.log_prior(z)

    def iw_log_weights(self, x, y=None, k=5000, generator=None):
        """log w (B, S) with S = k: log p(x|z_s) + log p(z_s) − log q(z_s|x) for k draws
        z_s ~ q(z|x) per example."""
        mu, logvar = self.encode(x, y)
        rows = []
        for b in range(x.shape[0]):
            eps = torch.randn(k, mu.shape[1], generator=generator)
            z = mu[b] + torch.exp(0.5 * logvar[b]) * eps  # (S, Z)
            yb = None if y is None else torch.as_tensor(y).reshape(-1)[b]
            rows.append(-self.recon_nll(self.decode(z, yb), x[b].expand(k, -1))
                        + self.log_prior(z) - _log_normal(z, mu[b], logvar[b]))
        return torch.stack(rows)

    def iw_nll(self, x, y=None, k=5000, generator=None):
        """−log p̂(x) per example (B,), nats: the importance-weighted estimate
        −log (1/k) Σ_s p(x|z_s) p(z_s) / q(z_s|x), as `vae eval --iw k`."""
        logw = self.iw_log_weights(x, y, k, generator)
        return float(np.log(k)) - torch.logsumexp(logw, 1)

    def scale(self, x):
        """Data units → model units (the checkpoint's scaling; identity when it has none)."""
        if self.data_offset.numel() == 0:
            return x
        x = (x - self.data_offset) * self.data_factor
        return x.clamp(0, 1) if self.clamp01 else x

    def unscale(self, x):
        """Model units → data units: x / factor + offset."""
        if self.data_offset.numel() == 0:
            return x
        return x / self.data_factor + self.data_offset


def load(path):
    """The VAE of a vae.cpp checkpoint with its weights (strict load_state_dict) and scaling."""
    tensors, metadata = safetensors.load(path)
    model = VAE(config_from_metadata(metadata))
    state = {k: torch.from_numpy(v) for k, v in tensors.items()
             if not k.startswith(("optimizer.", "data."))}
    model.load_state_dict(state, strict=True)
    if "data.offset" in tensors:
        model.data_offset = torch.from_numpy(tensors["data.offset"])
        model.data_factor = torch.from_numpy(tensors["data.factor"])
        model.clamp01 = json.loads(metadata.get("data_scaling", "{}")).get("clamp01", False)
    return model


def save_weights(model, path):
    """The model's state_dict as .safetensors (float32), for `vae import --weights`."""
    safetensors.save(path, {k: v.float() for k, v in model.state_dict().items()})

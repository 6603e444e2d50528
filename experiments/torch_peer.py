"""The benchmark's PyTorch peer: the same GANs in PyTorch eager (and
torch.compile), with weights copied from fgan's flax parameters so that both
compute the same losses on the same batch (checked before timing).

Only experiments.benchmark imports this module, and only when torch is
installed; fgan itself never needs PyTorch. The loss is the standard GAN's
(fgan divergence "gan": critic BCE with logits, non-saturating generator).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _t(x) -> torch.Tensor:
  return torch.from_numpy(np.array(x, np.float32))


# (side of the first feature map, number of 2x stages) by image side, as
# fgan.models._dcgan_plan.
PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


class DCGANGenerator(nn.Module):
  """fgan.models.DCGANGenerator in NCHW: z -> dense s0 x s0 x (w 2^(n-1)) ->
  BN, ReLU -> [ConvTranspose(4, 2, 1), BN, ReLU]... -> ConvTranspose to C
  channels (with bias) -> tanh."""

  def __init__(self, image_shape=(28, 28, 1), z_dim=64, width=64):
    super().__init__()
    self.s0, stages = PLANS[image_shape[0]]
    chans = [width * 2**(stages - 1 - i) for i in range(stages)]
    self.ch = chans[0]
    self.fc = nn.Linear(z_dim, self.s0 * self.s0 * self.ch, bias=False)
    self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans)
    self.ups = nn.ModuleList(
        [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(chans, chans[1:])]
        + [nn.ConvTranspose2d(chans[-1], image_shape[-1], 4, 2, 1, bias=True)])

  def forward(self, z):
    x = F.relu(self.bns[0](self.fc(z).view(-1, self.ch, self.s0, self.s0)))
    for up, bn in zip(self.ups, self.bns[1:]):
      x = F.relu(bn(up(x)))
    return torch.tanh(self.ups[-1](x))

  def load_flax(self, p):
    p = p["params"]
    k = np.asarray(p["Dense_0"]["kernel"])  # (z, s0*s0*ch), NHWC order
    self.fc.weight.data = _t(k.reshape(k.shape[0], self.s0, self.s0, self.ch)
                             .transpose(3, 1, 2, 0).reshape(-1, k.shape[0]))
    for i, bn in enumerate(self.bns):
      bn.weight.data, bn.bias.data = (_t(p[f"BatchNorm_{i}"]["scale"]),
                                      _t(p[f"BatchNorm_{i}"]["bias"]))
    for i, up in enumerate(self.ups):
      up.weight.data = _t(np.asarray(p[f"ConvTranspose2x_{i}"]["kernel"]).transpose(2, 3, 0, 1))
    self.ups[-1].bias.data = _t(p[f"ConvTranspose2x_{len(self.ups) - 1}"]["bias"])


class DCGANCritic(nn.Module):
  """fgan.models.DCGANCritic in NCHW, norm "none" or "batch": [Conv(4, 2, 1)
  -> (BN, not on the first) -> LeakyReLU(0.2)]... -> dense 1."""

  def __init__(self, image_shape=(28, 28, 1), width=64, norm="none"):
    super().__init__()
    self.s0, stages = PLANS[image_shape[0]]
    chans = [image_shape[-1]] + [width * 2**i for i in range(stages)]
    batch = norm == "batch"
    self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, 2, 1, bias=not batch or i == 0)
                               for i, (a, b) in enumerate(zip(chans, chans[1:])))
    self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[2:]) if batch else None
    self.ch = chans[-1]
    self.fc = nn.Linear(self.s0 * self.s0 * self.ch, 1)

  def forward(self, x):
    for i, conv in enumerate(self.convs):
      x = conv(x)
      if self.bns is not None and i > 0:
        x = self.bns[i - 1](x)
      x = F.leaky_relu(x, 0.2)
    return self.fc(x.flatten(1))[:, 0]

  def load_flax(self, p):
    p = p["params"]
    for i, conv in enumerate(self.convs):
      conv.weight.data = _t(np.asarray(p[f"Conv_{i}"]["kernel"]).transpose(3, 2, 0, 1))
      if conv.bias is not None:
        conv.bias.data = _t(p[f"Conv_{i}"]["bias"])
    for i, bn in enumerate(self.bns or ()):
      bn.weight.data, bn.bias.data = (_t(p[f"BatchNorm_{i}"]["scale"]),
                                      _t(p[f"BatchNorm_{i}"]["bias"]))
    k = np.asarray(p["Dense_0"]["kernel"])  # (s0*s0*ch, 1), NHWC order
    self.fc.weight.data = _t(k.reshape(self.s0, self.s0, self.ch, 1)
                             .transpose(3, 2, 0, 1).reshape(1, -1))
    self.fc.bias.data = _t(p["Dense_0"]["bias"])


class MLP(nn.Module):
  """fgan.models.MLP: ReLU hidden layers, linear output."""

  def __init__(self, d_in, hidden, out):
    super().__init__()
    sizes = [d_in, *hidden, out]
    self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

  def forward(self, x):
    x = x.flatten(1)
    for layer in self.layers[:-1]:
      x = F.relu(layer(x))
    return self.layers[-1](x)

  def load_flax(self, p):
    for i, layer in enumerate(self.layers):
      layer.weight.data = _t(np.asarray(p["params"][f"Dense_{i}"]["kernel"]).T)
      layer.bias.data = _t(p["params"][f"Dense_{i}"]["bias"])


def critic_loss(d, real, fake):
  return F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()


def generator_loss(d, fake):
  return F.softplus(-d(fake)).mean()


class Trainer:
  """One iteration = one critic and one generator Adam step (lr 2e-4,
  betas (0.5, 0.999)) on a fresh real batch and fresh latents, on the
  device the networks are on. ``compile``: the networks run through
  torch.compile (default mode); the optimisers stay eager."""

  def __init__(self, g, d, z_dim, sample_real, batch, compile=False):  # pylint: disable=redefined-builtin
    self.device = next(g.parameters()).device
    self.g_opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    self.d_opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    self.g, self.d = (torch.compile(g), torch.compile(d)) if compile else (g, d)
    self.z_dim, self.sample_real, self.batch = z_dim, sample_real, batch

  def step(self):
    real = self.sample_real(self.batch)
    z1, z2 = (torch.randn(self.batch, self.z_dim, device=self.device) for _ in range(2))
    fake = self.g(z1).detach()
    self.d_opt.zero_grad(set_to_none=True)
    d_loss = critic_loss(self.d, real, fake)
    d_loss.backward()
    self.d_opt.step()
    self.g_opt.zero_grad(set_to_none=True)
    g_loss = generator_loss(self.d, self.g(z2))
    g_loss.backward()
    self.g_opt.step()
    return d_loss, g_loss

  def _sync(self):
    if self.device.type == "cuda":
      torch.cuda.synchronize(self.device)

  def throughput(self, seconds: float) -> float:
    """Iterations/s over at least ``seconds`` and 3 iterations."""
    self._sync()
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or count < 3:
      self.step()
      count += 1
    self._sync()
    return count / (time.perf_counter() - t)


def image_sampler(images: np.ndarray, device="cpu"):
  """Random batches (NCHW, [-1, 1]) of uint8 NHWC images, kept on ``device``."""
  x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
  x = x.contiguous().to(device)
  return lambda n: x[torch.randint(0, len(x), (n,), device=device)]


def ring8_sampler(device="cpu"):
  angles = torch.arange(8, device=device) * (2 * np.pi / 8)
  means = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
  return lambda n: (means[torch.randint(0, 8, (n,), device=device)]
                    + 0.02 * torch.randn(n, 2, device=device))

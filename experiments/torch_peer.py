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


class DCGANGenerator(nn.Module):
  """fgan.models.DCGANGenerator for 28x28x1 in NCHW."""

  def __init__(self, z_dim=64, width=64):
    super().__init__()
    self.ch = 2 * width
    self.fc = nn.Linear(z_dim, 7 * 7 * self.ch, bias=False)
    self.bn0 = nn.BatchNorm2d(self.ch)
    self.up1 = nn.ConvTranspose2d(self.ch, width, 4, 2, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(width)
    self.up2 = nn.ConvTranspose2d(width, 1, 4, 2, 1, bias=True)

  def forward(self, z):
    x = self.fc(z).view(-1, self.ch, 7, 7)
    x = F.relu(self.bn0(x))
    x = F.relu(self.bn1(self.up1(x)))
    return torch.tanh(self.up2(x))

  def load_flax(self, p):
    p = p["params"]
    k = np.asarray(p["Dense_0"]["kernel"])  # (z, 7*7*ch), NHWC order
    self.fc.weight.data = _t(k.reshape(k.shape[0], 7, 7, self.ch).transpose(3, 1, 2, 0)
                             .reshape(-1, k.shape[0]))
    for bn, name in ((self.bn0, "BatchNorm_0"), (self.bn1, "BatchNorm_1")):
      bn.weight.data, bn.bias.data = _t(p[name]["scale"]), _t(p[name]["bias"])
    for up, name in ((self.up1, "ConvTranspose2x_0"), (self.up2, "ConvTranspose2x_1")):
      up.weight.data = _t(np.asarray(p[name]["kernel"]).transpose(2, 3, 0, 1))
    self.up2.bias.data = _t(p["ConvTranspose2x_1"]["bias"])


class DCGANCritic(nn.Module):
  """fgan.models.DCGANCritic for 28x28x1, norm "none", in NCHW."""

  def __init__(self, width=64):
    super().__init__()
    self.c1 = nn.Conv2d(1, width, 4, 2, 1)
    self.c2 = nn.Conv2d(width, 2 * width, 4, 2, 1)
    self.fc = nn.Linear(7 * 7 * 2 * width, 1)
    self.ch = 2 * width

  def forward(self, x):
    x = F.leaky_relu(self.c1(x), 0.2)
    x = F.leaky_relu(self.c2(x), 0.2)
    return self.fc(x.flatten(1))[:, 0]

  def load_flax(self, p):
    p = p["params"]
    for conv, name in ((self.c1, "Conv_0"), (self.c2, "Conv_1")):
      conv.weight.data = _t(np.asarray(p[name]["kernel"]).transpose(3, 2, 0, 1))
      conv.bias.data = _t(p[name]["bias"])
    k = np.asarray(p["Dense_0"]["kernel"])  # (7*7*ch, 1), NHWC order
    self.fc.weight.data = _t(k.reshape(7, 7, self.ch, 1).transpose(3, 2, 0, 1).reshape(1, -1))
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
  betas (0.5, 0.999)) on a fresh real batch and fresh latents."""

  def __init__(self, g, d, z_dim, sample_real, batch, compile_step=False):
    self.g, self.d, self.z_dim, self.sample_real, self.batch = g, d, z_dim, sample_real, batch
    self.g_opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    self.d_opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    self._step = torch.compile(self._iteration) if compile_step else self._iteration

  def _iteration(self, real, z1, z2):
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

  def step(self):
    real = self.sample_real(self.batch)
    z1, z2 = torch.randn(self.batch, self.z_dim), torch.randn(self.batch, self.z_dim)
    return self._step(real, z1, z2)

  def throughput(self, seconds: float) -> tuple[float, float]:
    """(iterations/s, seconds of the first iteration)."""
    t0 = time.perf_counter()
    self.step()
    first = time.perf_counter() - t0
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or count < 3:
      self.step()
      count += 1
    return count / (time.perf_counter() - t), first


def image_sampler(images: np.ndarray):
  """Random batches (NCHW, [-1, 1]) of uint8 NHWC images."""
  x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()
  return lambda n: x[torch.randint(0, len(x), (n,))]


def ring8_sampler():
  angles = torch.arange(8) * (2 * np.pi / 8)
  means = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
  return lambda n: means[torch.randint(0, 8, (n,))] + 0.02 * torch.randn(n, 2)

"""The benchmark's PyTorch peer: the same GANs in PyTorch eager (and
torch.compile), with weights copied from fgan's flax parameters so that both
compute the same outputs on the same batch (checked before timing).

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


def _conv_weight(kernel) -> torch.Tensor:
  """An HWIO flax kernel as a PyTorch (out, in, kh, kw) weight."""
  return _t(np.asarray(kernel).transpose(3, 2, 0, 1))


def _dense_from_map(kernel, side: int, channels: int) -> torch.Tensor:
  """A dense kernel whose outputs are an NHWC (side, side, channels) map,
  as a PyTorch Linear weight whose outputs view as NCHW."""
  k = np.asarray(kernel)
  return _t(k.reshape(k.shape[0], side, side, channels).transpose(3, 1, 2, 0)
            .reshape(-1, k.shape[0]))


def _dense_to_one(kernel, side: int, channels: int) -> torch.Tensor:
  """A dense kernel from a flattened NHWC map to 1, as a PyTorch weight
  over the flattened NCHW map."""
  k = np.asarray(kernel)
  return _t(k.reshape(side, side, channels, 1).transpose(3, 2, 0, 1).reshape(1, -1))


def _load_bn(bn, p) -> None:
  bn.weight.data, bn.bias.data = _t(p["scale"]), _t(p["bias"])


def _load_conv(conv, p, state=None) -> None:
  """A Conv2d (or Linear) from flax parameters ``p`` (a spectrally
  normalised layer's kernel is one level deeper, and its u, v in
  ``state``); a spectral-norm parametrisation gets u and v."""
  kernel = p["kernel"]["kernel"] if isinstance(p["kernel"], dict) else p["kernel"]
  weight = (_conv_weight(kernel) if np.ndim(kernel) == 4 else _t(np.asarray(kernel).T))
  target = conv.weight_orig if hasattr(conv, "weight_orig") else conv.weight
  target.data = weight.reshape(target.shape)
  if "bias" in p:
    conv.bias.data = _t(p["bias"])
  if state is not None and hasattr(conv, "weight_u"):
    conv.weight_u.data = _t(state["kernel"]["u"])
    v = np.asarray(state["kernel"]["v"])
    if np.ndim(kernel) == 4:  # (kh kw in) order -> (in kh kw), torch's flattening
      kh, kw, c_in, _ = np.shape(kernel)
      v = v.reshape(kh, kw, c_in).transpose(2, 0, 1).reshape(-1)
    conv.weight_v.data = _t(v)


def _sn(layer, norm: str):
  return nn.utils.spectral_norm(layer, eps=1e-12) if norm == "spectral" else layer


def _resnet_plan(image_shape, width, critic_width):
  from fgan.models import resnet  # pylint: disable=import-outside-toplevel
  plan = resnet.PLANS[image_shape[0]]
  return (plan, [m * (width or plan.generator_width) // 8 for m in plan.generator_widths],
          [m * (critic_width or plan.critic_width) // 16 for m in plan.critic_widths])


class ResNetGenerator(nn.Module):
  """fgan.models.resnet.ResNetGenerator in NCHW (nearest upsampling)."""

  def __init__(self, image_shape=(32, 32, 3), z_dim=128, width=0):
    super().__init__()
    plan, widths, _ = _resnet_plan(image_shape, width, 0)
    self.bottom, self.w0 = plan.bottom, widths[0]
    self.fc = nn.Linear(z_dim, plan.bottom * plan.bottom * widths[0])
    self.blocks = nn.ModuleList()
    for a, b in zip(widths, widths[1:]):
      self.blocks.append(nn.ModuleDict({
          "b1": nn.BatchNorm2d(a), "c1": nn.Conv2d(a, b, 3, 1, 1), "b2": nn.BatchNorm2d(b),
          "c2": nn.Conv2d(b, b, 3, 1, 1), "sc": nn.Conv2d(a, b, 1, 1, 0)}))
    self.bn = nn.BatchNorm2d(widths[-1])
    self.out = nn.Conv2d(widths[-1], image_shape[-1], 3, 1, 1)

  def forward(self, z):
    x = self.fc(z).view(-1, self.w0, self.bottom, self.bottom)
    for b in self.blocks:
      up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
      h = b["c2"](F.relu(b["b2"](b["c1"](up(F.relu(b["b1"](x)))))))
      x = h + b["sc"](up(x))
    return torch.tanh(self.out(F.relu(self.bn(x))))

  def load_flax(self, p):
    p = p["params"]
    self.fc.weight.data = _dense_from_map(p["Dense_0"]["kernel"], self.bottom, self.w0)
    self.fc.bias.data = _t(np.asarray(p["Dense_0"]["bias"]).reshape(
        self.bottom, self.bottom, self.w0).transpose(2, 0, 1).reshape(-1))
    for i, b in enumerate(self.blocks):
      q = p[f"UpBlock_{i}"]
      _load_bn(b["b1"], q["BatchNorm_0"])
      _load_bn(b["b2"], q["BatchNorm_1"])
      _load_conv(b["c1"], q["Conv_0"])
      _load_conv(b["c2"], q["Conv_1"])
      _load_conv(b["sc"], q["shortcut"])
    _load_bn(self.bn, p["BatchNorm_0"])
    _load_conv(self.out, p["Conv_0"])


class ResNetCritic(nn.Module):
  """fgan.models.resnet.ResNetCritic in NCHW, norm "spectral" (torch's
  spectral_norm on every layer) or "none"."""

  def __init__(self, image_shape=(32, 32, 3), width=0, norm="spectral"):
    super().__init__()
    plan, _, widths = _resnet_plan(image_shape, 0, width)
    self.blocks, self.down = nn.ModuleList(), plan.critic_downsample
    c_in = image_shape[-1]
    for i, c_out in enumerate(widths):
      hidden = c_out if i == 0 else c_in
      block = {"c1": _sn(nn.Conv2d(c_in, hidden, 3, 1, 1), norm),
               "c2": _sn(nn.Conv2d(hidden, c_out, 3, 1, 1), norm)}
      if i == 0 or plan.critic_downsample[i] or c_in != c_out:
        block["sc"] = _sn(nn.Conv2d(c_in, c_out, 1, 1, 0), norm)
      self.blocks.append(nn.ModuleDict(block))
      c_in = c_out
    self.fc = _sn(nn.Linear(c_in, 1), norm)

  def forward(self, x):
    for i, (b, down) in enumerate(zip(self.blocks, self.down)):
      h = b["c2"](F.relu(b["c1"](x if i == 0 else F.relu(x))))
      h = F.avg_pool2d(h, 2) if down else h
      if i == 0:
        shortcut = b["sc"](F.avg_pool2d(x, 2))
      elif "sc" in b:
        shortcut = b["sc"](x)
        shortcut = F.avg_pool2d(shortcut, 2) if down else shortcut
      else:
        shortcut = x
      x = h + shortcut
    return self.fc(F.relu(x).sum(dim=(2, 3)))[:, 0]

  def load_flax(self, p):
    state, p = p.get("spectral"), p["params"]
    for i, b in enumerate(self.blocks):
      q, s = p[f"DownBlock_{i}"], (state or {}).get(f"DownBlock_{i}", {})
      names = ("SNConv_0", "SNConv_1") if "SNConv_0" in q else ("Conv_0", "Conv_1")
      for key, name in zip(("c1", "c2"), names):
        _load_conv(b[key], q[name], s.get(name))
      if "sc" in b:
        _load_conv(b["sc"], q["shortcut"], s.get("shortcut"))
    name = "SNDense_0" if "SNDense_0" in p else "Dense_0"
    _load_conv(self.fc, p[name], (state or {}).get(name))


class SNDCGANGenerator(nn.Module):
  """fgan.models.sndcgan.SNDCGANGenerator in NCHW."""

  def __init__(self, image_shape=(32, 32, 3), z_dim=128, width=64):
    super().__init__()
    self.s0, self.w0 = image_shape[0] // 8, 8 * width
    self.fc = nn.Linear(z_dim, self.s0 * self.s0 * self.w0)
    chans = [8 * width, 4 * width, 2 * width, width]
    self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in zip(chans, chans[1:]))
    self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
    self.out = nn.Conv2d(width, image_shape[-1], 3, 1, 1)

  def forward(self, z):
    x = self.fc(z).view(-1, self.w0, self.s0, self.s0)
    for up, bn in zip(self.ups, self.bns):
      x = F.relu(bn(up(x)))
    return torch.tanh(self.out(x))

  def load_flax(self, p):
    p = p["params"]
    self.fc.weight.data = _dense_from_map(p["Dense_0"]["kernel"], self.s0, self.w0)
    self.fc.bias.data = _t(np.asarray(p["Dense_0"]["bias"]).reshape(
        self.s0, self.s0, self.w0).transpose(2, 0, 1).reshape(-1))
    for i, (up, bn) in enumerate(zip(self.ups, self.bns)):
      up.weight.data = _t(np.asarray(p[f"ConvTranspose2x_{i}"]["kernel"]).transpose(2, 3, 0, 1))
      up.bias.data = _t(p[f"ConvTranspose2x_{i}"]["bias"])
      _load_bn(bn, p[f"BatchNorm_{i}"])
    _load_conv(self.out, p["Conv_0"])


class SNDCGANCritic(nn.Module):
  """fgan.models.sndcgan.SNDCGANCritic in NCHW, norm "spectral" or
  "none"."""

  def __init__(self, image_shape=(32, 32, 3), width=64, norm="spectral"):
    super().__init__()
    layers = [(m * width, k, s) for m in (1, 2, 4) for k, s in ((3, 1), (4, 2))]
    layers.append((8 * width, 3, 1))
    chans = [image_shape[-1]] + [f for f, _, _ in layers]
    self.convs = nn.ModuleList(_sn(nn.Conv2d(a, b, k, s, 1), norm)
                               for a, b, (_, k, s) in zip(chans, chans[1:], layers))
    self.s0, self.ch = image_shape[0] // 8, 8 * width
    self.fc = _sn(nn.Linear(self.s0 * self.s0 * self.ch, 1), norm)

  def forward(self, x):
    for conv in self.convs:
      x = F.leaky_relu(conv(x), 0.1)
    return self.fc(x.flatten(1))[:, 0]

  def load_flax(self, p):
    state, p = p.get("spectral", {}), p["params"]
    prefix = "SNConv" if "SNConv_0" in p else "Conv"
    for i, conv in enumerate(self.convs):
      _load_conv(conv, p[f"{prefix}_{i}"], state.get(f"{prefix}_{i}"))
    name = "SNDense_0" if "SNDense_0" in p else "Dense_0"
    k = p[name]["kernel"]
    k = k["kernel"] if isinstance(k, dict) else k
    target = self.fc.weight_orig if hasattr(self.fc, "weight_orig") else self.fc.weight
    target.data = _dense_to_one(k, self.s0, self.ch)
    self.fc.bias.data = _t(p[name]["bias"])
    if name in state:
      self.fc.weight_u.data = _t(state[name]["kernel"]["u"])
      v = np.asarray(state[name]["kernel"]["v"]).reshape(self.s0, self.s0, self.ch)
      self.fc.weight_v.data = _t(v.transpose(2, 0, 1).reshape(-1))


def critic_loss(d, real, fake):
  return F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()


def generator_loss(d, fake):
  return F.softplus(-d(fake)).mean()


class Trainer:
  """One iteration = ``n_critic`` critic Adam steps, each on a fresh real
  batch and fresh latents, then one generator Adam step, on the device the
  networks are on. ``compile``: the networks run through torch.compile
  (default mode); the optimisers stay eager."""

  def __init__(self, g, d, z_dim, sample_real, batch, compile=False,  # pylint: disable=redefined-builtin
               lr=2e-4, betas=(0.5, 0.999), n_critic=1):
    self.device = next(g.parameters()).device
    self.g_opt = torch.optim.Adam(g.parameters(), lr, betas=betas)
    self.d_opt = torch.optim.Adam(d.parameters(), lr, betas=betas)
    self.g, self.d = (torch.compile(g), torch.compile(d)) if compile else (g, d)
    self.z_dim, self.sample_real, self.batch = z_dim, sample_real, batch
    self.n_critic = n_critic

  def step(self):
    for _ in range(self.n_critic):
      real = self.sample_real(self.batch)
      z = torch.randn(self.batch, self.z_dim, device=self.device)
      fake = self.g(z).detach()
      self.d_opt.zero_grad(set_to_none=True)
      d_loss = critic_loss(self.d, real, fake)
      d_loss.backward()
      self.d_opt.step()
    self.g_opt.zero_grad(set_to_none=True)
    z = torch.randn(self.batch, self.z_dim, device=self.device)
    g_loss = generator_loss(self.d, self.g(z))
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

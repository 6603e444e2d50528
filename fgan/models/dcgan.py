"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised representation
learning with deep convolutional generative adversarial networks"):
stride-2 transposed convolutions, batch norm, ReLU and a tanh output in the
generator; stride-2 convolutions and LeakyReLU(0.2) in the critic, batch
norm after its first layer. Optional stride-1 3x3 layers at the smallest
resolution deepen both networks (TensorFlow's DCGAN tutorial for MNIST has
one, 5x5, in its generator)."""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from fgan import errors
from fgan.models import kernels
from fgan.models.layers import BatchNorm, ConvTranspose2x, DCGAN_INIT
from fgan.models.spectral import SNConv, SNDense

CRITIC_NORMS = ("none", "batch", "layer", "spectral")
# (initial side, number of 2x stages) for each image side.
PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


class DCGANGenerator(nn.Module):
  """z -> dense to s0 x s0 x (w 2^(n-1)) -> BN, ReLU -> [3x3 conv, BN,
  ReLU] x extra_convs -> [2x up, BN, ReLU] ... -> 2x up to C channels ->
  tanh. For 28x28 at width 64: 7x7x128 -> 14x14x64 -> 28x28x1; for 64x64:
  4x4x512 -> ... -> 64x64x3.

  Attributes:
    image_shape: (H, W, C) with H = W in ``PLANS``.
    width: base width; the widest layer has width 2^(stages - 1).
    conv_impl: compute.conv_impl (fgan.models.kernels).
    axis_name: batch norm's statistics over that mapped axis too (pmap).
    extra_convs: stride-1 3x3 layers at the smallest resolution.
  """

  image_shape: Sequence[int]
  width: int = 64
  conv_impl: str = "subpixel"
  axis_name: str | None = None
  extra_convs: int = 0

  @nn.compact
  def __call__(self, z):
    """Args: z (B, z_dim). Returns: images (B, H, W, C) in [-1, 1]."""
    s0, stages = PLANS[self.image_shape[0]]
    ch = self.width * 2**(stages - 1)
    x = nn.Dense(s0 * s0 * ch, use_bias=False, kernel_init=DCGAN_INIT)(z)
    x = x.reshape(-1, s0, s0, ch)
    x = nn.relu(BatchNorm(self.axis_name)(x))
    conv = kernels.convolution(self.conv_impl)
    for _ in range(self.extra_convs):
      x = nn.Conv(ch, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                  kernel_init=DCGAN_INIT, conv_general_dilated=conv)(x)
      x = nn.relu(BatchNorm(self.axis_name)(x))
    for _ in range(stages - 1):
      ch //= 2
      x = ConvTranspose2x(ch, impl=self.conv_impl)(x)
      x = nn.relu(BatchNorm(self.axis_name)(x))
    x = ConvTranspose2x(self.image_shape[-1], use_bias=True, impl=self.conv_impl)(x)
    return jnp.tanh(x)


class DCGANCritic(nn.Module):
  """[conv k4 s2 -> (norm) -> LeakyReLU(0.2)] x stages -> [conv k3 s1 ->
  (norm) -> LeakyReLU] x extra_convs -> dense 1 (raw output V).

  Attributes:
    image_shape: (H, W, C) with H = W in ``PLANS``.
    width: base width; layer i has width 2^i.
    norm: "none" (per-example, as a gradient penalty needs), "batch"
      (DCGAN's; not on the first layer), "layer", or "spectral" (every
      kernel spectrally normalised, fgan.models.spectral).
    axis_name: batch norm's statistics over that mapped axis too (pmap).
    conv_impl: compute.conv_impl; the parameters do not depend on it.
    extra_convs: stride-1 3x3 layers after the last stride-2 one.
  """

  image_shape: Sequence[int]
  width: int = 64
  norm: str = "none"
  axis_name: str | None = None
  conv_impl: str = "subpixel"
  extra_convs: int = 0

  @nn.compact
  def __call__(self, x):
    """Args: x (B, H, W, C). Returns: V (B, 1)."""
    _, stages = PLANS[self.image_shape[0]]
    conv = kernels.convolution(self.conv_impl)
    sn = self.norm == "spectral"
    # (features, kernel, stride) of each layer.
    layers = [(self.width * 2**i, 4, 2) for i in range(stages)]
    layers += [(self.width * 2**(stages - 1), 3, 1)] * self.extra_convs
    for i, (features, k, stride) in enumerate(layers):
      layer = SNConv if sn else functools.partial(nn.Conv, conv_general_dilated=conv)
      x = layer(features, (k, k), (stride, stride), padding=((1, 1), (1, 1)),
                use_bias=self.norm in ("none", "spectral") or i == 0,
                kernel_init=DCGAN_INIT, **({"conv": conv} if sn else {}))(x)
      if i > 0 and self.norm == "batch":
        x = BatchNorm(self.axis_name)(x)
      elif i > 0 and self.norm == "layer":
        x = nn.LayerNorm()(x)
      x = nn.leaky_relu(x, 0.2)
    dense = SNDense if sn else nn.Dense
    return dense(1, kernel_init=DCGAN_INIT)(x.reshape(x.shape[0], -1))


def fields() -> ml_collections.ConfigDict:
  """config.model's fields for name = "dcgan", at their defaults (Radford et
  al.'s networks at the MNIST widths).

  Returns:
    The fields.
  """
  m = ml_collections.ConfigDict()
  m.z_dim = 64  # latent size, z ~ N(0, I)
  m.width = 64  # generator base width (its widest layer: width * 2^(stages - 1))
  m.critic_width = 64  # critic base width (layer i: width * 2^i)
  m.generator_extra_convs = 0  # 3x3 layers at the smallest resolution; 0 = DCGAN's
  m.critic_extra_convs = 0  # 3x3 layers after the last stride-2 one; 0 = DCGAN's
  m.critic_norm = "batch"  # "none" | "batch" | "layer" | "spectral" (DCGANCritic.norm)
  return m


def build(m, data_shape, conv_impl):
  """(DCGANGenerator, DCGANCritic) from config.model.

  Args:
    m: config.model.
    data_shape: (H, W, C).
    conv_impl: the resolved compute.conv_impl.

  Returns:
    (generator, critic).
  """
  shape = tuple(data_shape)
  return (DCGANGenerator(shape, width=m.width, conv_impl=conv_impl,
                         extra_convs=m.generator_extra_convs),
          DCGANCritic(shape, width=m.critic_width, norm=m.critic_norm, conv_impl=conv_impl,
                      extra_convs=m.critic_extra_convs))


def check(m) -> None:
  """The DCGAN's fields: positive widths and z_dim, layer counts >= 0, a
  known critic norm.

  Args:
    m: config.model.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  for field in ("width", "critic_width", "z_dim"):
    errors.check_positive_ints(f"model.{field}", (m[field],))
  for field in ("generator_extra_convs", "critic_extra_convs"):
    errors.check_int(f"model.{field}", m[field], 0, "DCGAN's network")
  errors.check_choice("model.critic_norm", m.critic_norm, CRITIC_NORMS)


def check_data(m, shape) -> None:
  """That the DCGAN makes images of ``shape``.

  Args:
    m: config.model.
    shape: one example's shape.

  Raises:
    errors.ConfigError: the shape is not 28x28, 32x32 or 64x64 images.
  """
  del m
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in PLANS:
    raise errors.ConfigError(
        f"config.model.name = 'dcgan' makes 28x28, 32x32 or 64x64 images, but the data "
        f"has examples of shape {tuple(shape)}. Set config.data.resize to 28, 32 or 64 "
        "for other images, or use config.model.name = 'mlp' for vector data.")


def per_example_critic(m) -> bool:
  """Whether the critic treats examples independently: all norms but
  batch norm.

  Args:
    m: config.model.

  Returns:
    The answer.
  """
  return m.critic_norm != "batch"

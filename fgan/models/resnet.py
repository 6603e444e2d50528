"""SNGAN's ResNet generator and critic (Miyato et al. 2018, "Spectral
normalization for generative adversarial networks", appendix B, after Gulrajani
et al. 2017's ResNet; the chainer reference pfnet-research/sngan_projection,
transcribed to PyTorch in kwotsin/mimicry torch_mimicry/nets/sngan/).

Generator: z -> dense to s0 x s0 x w -> up-blocks -> BN, ReLU, 3x3 conv to
C channels -> tanh. An up-block: BN, ReLU, nearest 2x upsampling, 3x3 conv,
BN, ReLU, 3x3 conv, plus a shortcut of 2x upsampling and a learned 1x1
convolution.

Critic: an "optimized" first block (3x3 conv, ReLU, 3x3 conv, 2x2 average
pool, plus a shortcut of average pool and 1x1 conv), then blocks of ReLU,
3x3 conv, ReLU, 3x3 conv (and average pool where the block downsamples;
the shortcut a 1x1 conv where the block changes the width or downsamples),
then ReLU, global sum pooling and a dense layer to 1.

The plans by image side (``PLANS``): 32x32 (CIFAR-10): generator 4x4 and
three up-blocks of width w (256), critic four blocks of width c (128), the
first two downsampling; 48x48 (STL-10): generator 6x6 and three up-blocks
halving w from 512, critic five blocks widening c / 16 ... c from c = 1024,
the first four downsampling. Weights: Glorot uniform, gain sqrt(2) in the
blocks' 3x3 convolutions and 1 elsewhere, biases 0 (the reference's).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from fgan import errors
from fgan.models import initializers
from fgan.models.layers import BatchNorm
from fgan.models.spectral import SNConv, SNDense

CRITIC_NORMS = ("none", "layer", "spectral")


@dataclasses.dataclass(frozen=True)
class Plan:
  """The ResNet of one image side.

  Attributes:
    bottom: the generator's first feature map's side.
    generator_widths: (the dense layer's width, each up-block's output
      width), as multiples of the generator's base width over 8.
    critic_widths: each critic block's output width, as multiples of the
      critic's base width over 16.
    critic_downsample: whether each critic block downsamples.
    generator_width, critic_width: the paper's base widths.
  """
  bottom: int
  generator_widths: tuple
  critic_widths: tuple
  critic_downsample: tuple
  generator_width: int
  critic_width: int


PLANS = {
    32: Plan(4, (8, 8, 8, 8), (16, 16, 16, 16), (True, True, False, False), 256, 128),
    48: Plan(6, (8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, False), 512, 1024),
}


def _conv(features, kernel, norm, gain, name=None):
  """A stride-1 'same' convolution (spectrally normalised for norm
  "spectral")."""
  pad = (kernel - 1) // 2
  layer = SNConv if norm == "spectral" else nn.Conv
  return layer(features, (kernel, kernel), padding=((pad, pad), (pad, pad)),
               kernel_init=initializers.glorot_uniform(gain), name=name)


def _upsample(x):
  """Nearest-neighbour 2x upsampling (chainer's unpooling_2d)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


class UpBlock(nn.Module):
  """The generator's residual up-block.

  Attributes:
    features: output width.
    axis_name: batch norm's statistics over that mapped axis too (pmap).
  """

  features: int
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x):
    """Args: x (N, H, W, C). Returns: (N, 2H, 2W, features)."""
    h = nn.relu(BatchNorm(self.axis_name)(x))
    h = _conv(self.features, 3, "none", math.sqrt(2.0))(_upsample(h))
    h = nn.relu(BatchNorm(self.axis_name)(h))
    h = _conv(self.features, 3, "none", math.sqrt(2.0))(h)
    return h + _conv(self.features, 1, "none", 1.0, name="shortcut")(_upsample(x))


class DownBlock(nn.Module):
  """The critic's residual block.

  Attributes:
    features: output width.
    downsample: 2x2 average pooling at the end of both paths.
    optimized: the first block's form (no leading ReLU; the shortcut pools
      before its convolution).
    norm: "none", "layer" or "spectral" (fgan.models.spectral).
  """

  features: int
  downsample: bool = True
  optimized: bool = False
  norm: str = "spectral"

  @nn.compact
  def __call__(self, x):
    """Args: x (N, H, W, C). Returns: (N, H', W', features)."""
    hidden = self.features if self.optimized else x.shape[-1]
    h = x if self.optimized else nn.relu(x)
    h = nn.relu(self._normalized(_conv(hidden, 3, self.norm, math.sqrt(2.0))(h)))
    h = self._normalized(_conv(self.features, 3, self.norm, math.sqrt(2.0))(h))
    if self.downsample:
      h = _avg_pool(h)
    shortcut = x
    if self.optimized:
      shortcut = _conv(self.features, 1, self.norm, 1.0, name="shortcut")(_avg_pool(x))
    elif self.downsample or x.shape[-1] != self.features:
      shortcut = _conv(self.features, 1, self.norm, 1.0, name="shortcut")(x)
      shortcut = _avg_pool(shortcut) if self.downsample else shortcut
    return h + shortcut

  def _normalized(self, x):
    """Layer norm after each 3x3 convolution for norm "layer"."""
    return nn.LayerNorm()(x) if self.norm == "layer" else x


class ResNetGenerator(nn.Module):
  """z -> dense -> up-blocks -> BN, ReLU, 3x3 conv -> tanh.

  Attributes:
    image_shape: (H, W, C) with H = W in ``PLANS``.
    width: base width (the plan's widths scale with it; 0 = the paper's).
    axis_name: batch norm's statistics over that mapped axis too (pmap).
  """

  image_shape: Sequence[int]
  width: int = 0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z):
    """Args: z (B, z_dim). Returns: images (B, H, W, C) in [-1, 1]."""
    plan = PLANS[self.image_shape[0]]
    widths = [m * (self.width or plan.generator_width) // 8 for m in plan.generator_widths]
    x = nn.Dense(plan.bottom * plan.bottom * widths[0],
                 kernel_init=initializers.glorot_uniform(1.0))(z)
    x = x.reshape(-1, plan.bottom, plan.bottom, widths[0])
    for features in widths[1:]:
      x = UpBlock(features, self.axis_name)(x)
    x = nn.relu(BatchNorm(self.axis_name)(x))
    return jnp.tanh(_conv(self.image_shape[-1], 3, "none", 1.0)(x))


class ResNetCritic(nn.Module):
  """Residual blocks -> ReLU -> global sum pooling -> dense 1 (raw V).

  Attributes:
    image_shape: (H, W, C) with H = W in ``PLANS``.
    width: base width (0 = the paper's).
    norm: "spectral" (SNGAN's), "layer" or "none".
  """

  image_shape: Sequence[int]
  width: int = 0
  norm: str = "spectral"

  @nn.compact
  def __call__(self, x):
    """Args: x (B, H, W, C). Returns: V (B, 1)."""
    plan = PLANS[self.image_shape[0]]
    widths = [m * (self.width or plan.critic_width) // 16 for m in plan.critic_widths]
    for i, (features, down) in enumerate(zip(widths, plan.critic_downsample)):
      x = DownBlock(features, down, optimized=i == 0, norm=self.norm)(x)
    x = jnp.sum(nn.relu(x), axis=(1, 2))
    dense = SNDense if self.norm == "spectral" else nn.Dense
    return dense(1, kernel_init=initializers.glorot_uniform(1.0))(x)


def fields() -> ml_collections.ConfigDict:
  """config.model's fields for name = "resnet", at their defaults (the
  paper's networks for the image size).

  Returns:
    The fields.
  """
  m = ml_collections.ConfigDict()
  m.z_dim = 128  # latent size, z ~ N(0, I)
  m.width = 0  # generator base width; 0 = the paper's for the image size (32: 256, 48: 512)
  m.critic_width = 0  # critic base width; 0 = the paper's (32: 128, 48: 1024)
  m.critic_norm = "spectral"  # "spectral" | "layer" | "none" (for a gradient penalty: any)
  return m


def build(m, data_shape, conv_impl):
  """(ResNetGenerator, ResNetCritic) from config.model.

  Args:
    m: config.model.
    data_shape: (H, W, C).
    conv_impl: unused (XLA's convolutions).

  Returns:
    (generator, critic).
  """
  del conv_impl
  shape = tuple(data_shape)
  return (ResNetGenerator(shape, width=m.width),
          ResNetCritic(shape, width=m.critic_width, norm=m.critic_norm))


def check(m) -> None:
  """The ResNet's fields: widths >= 0 and divisible as the plans need,
  z_dim > 0, a known critic norm.

  Args:
    m: config.model.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  errors.check_positive_ints("model.z_dim", (m.z_dim,))
  for field, divisor in (("width", 8), ("critic_width", 16)):
    errors.check_int(f"model.{field}", m[field], 0, "the paper's width")
    if m[field] % divisor:
      raise errors.ConfigError(f"config.model.{field} = {m[field]} must be a multiple of "
                               f"{divisor} (the plans divide it so).")
  errors.check_choice("model.critic_norm", m.critic_norm, CRITIC_NORMS)


def check_data(m, shape) -> None:
  """That the ResNet makes images of ``shape``.

  Args:
    m: config.model.
    shape: one example's shape.

  Raises:
    errors.ConfigError: the shape is not 32x32 or 48x48 images.
  """
  del m
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in PLANS:
    raise errors.ConfigError(
        f"config.model.name = 'resnet' makes 32x32 or 48x48 images, but the data has "
        f"examples of shape {tuple(shape)}. Set config.data.resize to 32 or 48.")


def per_example_critic(m) -> bool:
  """Whether the critic treats examples independently: always (no batch
  norm in it).

  Args:
    m: config.model.

  Returns:
    True.
  """
  del m
  return True


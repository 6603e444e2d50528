"""The "standard CNN" of Miyato et al. 2018 ("Spectral normalization for
generative adversarial networks", appendix B, table 3), the SNDCGAN of the
GAN benchmarks (StudioGAN's deep_conv, compare_gan's sndcgan).

Generator: z -> dense to s0 x s0 x 8w -> [4x4 stride-2 transposed conv, BN,
ReLU] to 4w, 2w, w -> 3x3 conv to C channels -> tanh (s0 = side / 8: 4 for
32x32, 6 for 48x48; w = 64).

Critic: [3x3 conv, LeakyReLU(0.1), 4x4 stride-2 conv, LeakyReLU(0.1)] at
widths c, 2c, 4c, then a 3x3 conv to 8c, LeakyReLU(0.1), and a dense layer
on the flattened s0 x s0 x 8c features to 1 (c = 64).

Weights: normal with std 0.02 (DCGAN's, as the reference code
initialises them), biases 0.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from fgan import errors
from fgan.models import kernels
from fgan.models.layers import BatchNorm, ConvTranspose2x, DCGAN_INIT
from fgan.models.spectral import SNConv, SNDense

CRITIC_NORMS = ("none", "layer", "spectral")
SIDES = (32, 48)


class SNDCGANGenerator(nn.Module):
  """z -> dense -> 3 x [2x up, BN, ReLU] -> 3x3 conv -> tanh.

  Attributes:
    image_shape: (H, W, C), H = W in ``SIDES``.
    width: w, the last up-layer's width (the first's: 4w).
    conv_impl: compute.conv_impl (fgan.models.kernels).
    axis_name: batch norm's statistics over that mapped axis too (pmap).
  """

  image_shape: Sequence[int]
  width: int = 64
  conv_impl: str = "subpixel"
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z):
    """Args: z (B, z_dim). Returns: images (B, H, W, C) in [-1, 1]."""
    s0 = self.image_shape[0] // 8
    x = nn.Dense(s0 * s0 * 8 * self.width, kernel_init=DCGAN_INIT)(z)
    x = x.reshape(-1, s0, s0, 8 * self.width)
    for multiple in (4, 2, 1):
      x = ConvTranspose2x(multiple * self.width, use_bias=True, impl=self.conv_impl)(x)
      x = nn.relu(BatchNorm(self.axis_name)(x))
    x = nn.Conv(self.image_shape[-1], (3, 3), padding=((1, 1), (1, 1)), kernel_init=DCGAN_INIT,
                conv_general_dilated=kernels.convolution(self.conv_impl))(x)
    return jnp.tanh(x)


class SNDCGANCritic(nn.Module):
  """Seven convolutions with LeakyReLU(0.1) -> dense 1 (raw V).

  Attributes:
    image_shape: (H, W, C), H = W in ``SIDES``.
    width: c, the first layer's width.
    norm: "spectral" (the paper's), "layer" (after every convolution but
      the first) or "none".
    conv_impl: compute.conv_impl (fgan.models.kernels).
  """

  image_shape: Sequence[int]
  width: int = 64
  norm: str = "spectral"
  conv_impl: str = "subpixel"

  @nn.compact
  def __call__(self, x):
    """Args: x (B, H, W, C). Returns: V (B, 1)."""
    conv = kernels.convolution(self.conv_impl)
    layers = [(m * self.width, k, s) for m in (1, 2, 4) for k, s in ((3, 1), (4, 2))]
    layers.append((8 * self.width, 3, 1))
    for i, (features, k, stride) in enumerate(layers):
      if self.norm == "spectral":
        layer = SNConv(features, (k, k), (stride, stride), ((1, 1), (1, 1)),
                       kernel_init=DCGAN_INIT, conv=conv)
      else:
        layer = nn.Conv(features, (k, k), (stride, stride), ((1, 1), (1, 1)),
                        kernel_init=DCGAN_INIT, conv_general_dilated=conv)
      x = layer(x)
      if self.norm == "layer" and i > 0:
        x = nn.LayerNorm()(x)
      x = nn.leaky_relu(x, 0.1)
    dense = SNDense if self.norm == "spectral" else nn.Dense
    return dense(1, kernel_init=DCGAN_INIT)(x.reshape(x.shape[0], -1))


def fields() -> ml_collections.ConfigDict:
  """config.model's fields for name = "sndcgan", at their defaults (the
  paper's).

  Returns:
    The fields.
  """
  m = ml_collections.ConfigDict()
  m.z_dim = 128  # latent size, z ~ N(0, I)
  m.width = 64  # generator: the last up-layer's width (the dense layer's: 8 x)
  m.critic_width = 64  # critic: the first layer's width (the last: 8 x)
  m.critic_norm = "spectral"  # "spectral" | "layer" | "none"
  return m


def build(m, data_shape, conv_impl):
  """(SNDCGANGenerator, SNDCGANCritic) from config.model.

  Args:
    m: config.model.
    data_shape: (H, W, C).
    conv_impl: the resolved compute.conv_impl.

  Returns:
    (generator, critic).
  """
  shape = tuple(data_shape)
  return (SNDCGANGenerator(shape, width=m.width, conv_impl=conv_impl),
          SNDCGANCritic(shape, width=m.critic_width, norm=m.critic_norm, conv_impl=conv_impl))


def check(m) -> None:
  """Positive widths and z_dim, a known critic norm.

  Args:
    m: config.model.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  for field in ("z_dim", "width", "critic_width"):
    errors.check_positive_ints(f"model.{field}", (m[field],))
  errors.check_choice("model.critic_norm", m.critic_norm, CRITIC_NORMS)


def check_data(m, shape) -> None:
  """That the network makes images of ``shape``.

  Args:
    m: config.model.
    shape: one example's shape.

  Raises:
    errors.ConfigError: the shape is not 32x32 or 48x48 images.
  """
  del m
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in SIDES:
    raise errors.ConfigError(
        f"config.model.name = 'sndcgan' makes 32x32 or 48x48 images, but the data has "
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

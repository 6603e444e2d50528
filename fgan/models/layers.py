"""Layers the model families share: batch normalisation and the DCGAN's
learned 2x upsampling (spectral normalisation: fgan.models.spectral)."""

from __future__ import annotations

import flax.linen as nn

from fgan.models import initializers
from fgan.models import kernels

# DCGAN (Radford et al. 2016, section 4): "All weights were initialized from
# a zero-centered Normal distribution with standard deviation 0.02."
DCGAN_INIT = initializers.normal(0.02)


class BatchNorm(nn.Module):
  """Batch normalisation with the statistics of the current batch
  (``kernels.batch_norm``), in training and in sampling alike, as the DCGAN
  reference code uses it: no running averages are kept, so a model's state
  is its parameters.

  Attributes:
    axis_name: a mapped axis (pmap) over which the statistics are averaged
      too, so that they are those of the global batch; None for one device.
    epsilon: added to the variance.
  """

  axis_name: str | None = None
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x):
    """Args: x (..., C). Returns: x normalised, scaled and shifted."""
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return kernels.batch_norm(x, scale, bias, self.axis_name, self.epsilon)


class ConvTranspose2x(nn.Module):
  """Learned stride-2 upsampling (kernel 4, padding 1,
  ``kernels.conv_transpose_2x``); the parameters do not depend on ``impl``.

  Attributes:
    features: output channels.
    use_bias: add a learned bias.
    impl: compute.conv_impl's form of the transposed convolution.
  """

  features: int
  use_bias: bool = False
  impl: str = "subpixel"

  @nn.compact
  def __call__(self, x):
    """Args: x (N, H, W, C). Returns: (N, 2H, 2W, features)."""
    kernel = self.param("kernel", DCGAN_INIT, (4, 4, x.shape[-1], self.features))
    y = kernels.conv_transpose_2x(x, kernel, self.impl)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y

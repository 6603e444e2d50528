"""The toy-data networks: fully connected generator and critic (Gulrajani et
al. 2017, "Improved training of Wasserstein GANs": 3 hidden layers of 512,
ReLU)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import ml_collections
import numpy as np

from fgan import errors


class MLP(nn.Module):
  """Fully connected net: hidden ReLU layers, then a linear output.

  Attributes:
    hidden: widths of the hidden layers.
    out: output size.
  """

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x):
    """Args: x (B, ...), flattened per example. Returns: (B, out)."""
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out)(x)


def fields() -> ml_collections.ConfigDict:
  """config.model's fields for name = "mlp", at their defaults.

  Returns:
    The fields.
  """
  m = ml_collections.ConfigDict()
  m.z_dim = 2  # latent size, z ~ N(0, I)
  m.hidden = (512, 512, 512)  # hidden widths of the generator and of the critic
  return m


def build(m, data_shape, conv_impl):
  """(generator z -> example, critic example -> V), both ``MLP(m.hidden)``.

  Args:
    m: config.model.
    data_shape: one example's shape; the generator outputs its size.
    conv_impl: unused (no convolutions).

  Returns:
    (generator, critic).
  """
  del conv_impl
  out = int(np.prod(data_shape))
  return MLP(hidden=tuple(m.hidden), out=out), MLP(hidden=tuple(m.hidden), out=1)


def check(m) -> None:
  """config.model.hidden and .z_dim: positive ints, at least one layer.

  Args:
    m: config.model.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  hidden = tuple(m.hidden) if isinstance(m.hidden, (tuple, list)) else (m.hidden,)
  if not hidden:
    raise errors.ConfigError("config.model.hidden = () gives the MLP no hidden layer; "
                             "give at least one width, e.g. (128, 128).")
  errors.check_positive_ints("model.hidden", hidden)
  errors.check_positive_ints("model.z_dim", (m.z_dim,))

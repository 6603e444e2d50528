"""Generators and critics (flax.linen).

MLP: the toy-data networks of Gulrajani et al. 2017 (WGAN-GP, 3 hidden layers
of 512, ReLU). DCGAN: Radford, Metz & Chintala 2016 (seed 003): strided
convolutions in the critic, stride-2 transposed convolutions in the
generator, batch norm, LeakyReLU(0.2) in the critic, ReLU and a tanh output
in the generator. The critic returns raw outputs V(x) (no activation); the
divergence's g_f is applied in the loss.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """Fully connected net: hidden ReLU layers, linear output of size ``out``."""

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # no batch statistics
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out)(x)

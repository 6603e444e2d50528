"""Spectral normalisation as Miyato et al. publish it ("Spectral
normalization for generative adversarial networks", ICLR 2018, Algorithm 1),
with torch.nn.utils.spectral_norm's conventions.

Each normalised layer divides its kernel W by an estimate sigma of its
largest singular value. W is read as a matrix with inputs on its first axis
(a convolution kernel (kh, kw, C_in, C_out) as (kh kw C_in) x C_out), and a
training step makes one power iteration:

    v <- W u / |W u|,   u <- W^T v / |W^T v|,   sigma = v^T W u,

u (C_out,) and v (kh kw C_in,) persistent vectors, kept in the critic's
non-trainable collection "spectral" beside its parameters (a checkpointed
part of the train state). ``power_iterate`` makes the one power iteration
of a training step, for every layer at once; the layers themselves read
sigma from the stored vectors, which carry no gradient (sigma does, through
W). Evaluation uses the stored vectors as they are. u starts as a normal
draw normalised (torch's init), v as W u normalised.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from fgan.models import initializers

COLLECTION = "spectral"
EPSILON = 1e-12  # torch.nn.utils.spectral_norm's eps


def _normalize(x):
  return x / jnp.maximum(jnp.linalg.norm(x), EPSILON)


def _matrix(kernel):
  return kernel.reshape(-1, kernel.shape[-1])


def _iterate(kernel, u):
  """(u, v) after one power iteration from u."""
  w = _matrix(kernel)
  v = _normalize(w @ u)
  return _normalize(w.T @ v), v


def sigma(kernel, u, v):
  """sigma = v^T W u, differentiable in W (u and v held fixed).

  Args:
    kernel: (..., C_out).
    u: (C_out,).
    v: (prod of the other axes,).

  Returns:
    The scalar.
  """
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  return v @ (_matrix(kernel) @ u)


class _SpectralKernel(nn.Module):
  """A kernel parameter and its persistent vectors; returns W / sigma."""

  shape: Sequence[int]
  kernel_init: nn.initializers.Initializer

  @nn.compact
  def __call__(self):
    kernel = self.param("kernel", self.kernel_init, tuple(self.shape))
    u = self.variable(COLLECTION, "u", lambda: _normalize(
        jax.random.normal(self.make_rng("params"), (self.shape[-1],))))
    v = self.variable(COLLECTION, "v", lambda: _normalize(_matrix(kernel) @ u.value))
    return kernel / sigma(kernel, u.value, v.value)


class SNConv(nn.Module):
  """A convolution (NHWC, HWIO) of a spectrally normalised kernel.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: (sy, sx).
    padding: ((top, bottom), (left, right)).
    use_bias: add a learned bias.
    kernel_init: the kernel's initialiser.
    conv: the convolution, jax.lax.conv_general_dilated's signature
      (fgan.models.kernels.convolution).
  """

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Sequence[Sequence[int]] = ((0, 0), (0, 0))
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = initializers.lecun_normal()
  conv: object = jax.lax.conv_general_dilated

  @nn.compact
  def __call__(self, x):
    """Args: x (N, H, W, C_in). Returns: (N, H', W', features)."""
    kernel = _SpectralKernel(tuple(self.kernel_size) + (x.shape[-1], self.features),
                             self.kernel_init, name="kernel")()
    y = self.conv(x, kernel, tuple(self.strides), tuple(map(tuple, self.padding)),
                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class SNDense(nn.Module):
  """A dense layer of a spectrally normalised kernel.

  Attributes:
    features: outputs.
    use_bias: add a learned bias.
    kernel_init: the kernel's initialiser.
  """

  features: int
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = initializers.lecun_normal()

  @nn.compact
  def __call__(self, x):
    """Args: x (N, C_in). Returns: (N, features)."""
    kernel = _SpectralKernel((x.shape[-1], self.features), self.kernel_init, name="kernel")()
    y = x @ kernel
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


def power_iterate(params, state):
  """One power iteration of every spectrally normalised layer: the state a
  training step's critic uses (and stores).

  Args:
    params: the critic's "params" collection.
    state: its "spectral" collection (u and v of each layer), or {} for a
      critic without spectral normalisation.

  Returns:
    The new "spectral" collection, same structure.
  """
  def walk(p, s):
    if "u" in s:
      u, v = _iterate(p["kernel"], s["u"])
      return {"u": u, "v": v}
    return {k: walk(p[k], s[k]) for k in s}
  return walk(params, state)

"""Weight initialisers that draw their random numbers over the flattened
shape: the numbers of jax.nn.initializers', compiled faster.

jax's threefry counters run over an array's row-major index
(jax_threefry_partitionable), so a draw of n = prod(shape) numbers reshaped
to ``shape`` is the draw of ``shape``, bit for bit (tests/test_models.py).
XLA's CPU compiler builds the one-dimensional draw several times faster than
a four-dimensional one, and flax initialises parameters op by op, one
compiled draw per kernel shape: with convolution kernels that compilation
is most of a run's set-up.

Each function mirrors the jax.nn.initializers function of the same name,
for kernels laid out (..., in, out) as flax's Dense and Conv lay them
(in_axis -2, out_axis -1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# The standard deviation of a standard normal truncated to (-2, 2), as
# jax.nn.initializers.variance_scaling divides by it.
_TRUNCATED_STD = .87962566103423978


# Standard draws of n numbers: N(0, 1), N(0, 1) truncated to (-2, 2), and
# uniform over [-1, 1).
_DRAWS = {
    "normal": lambda key, n, dtype: jax.random.normal(key, n, dtype),
    "truncated_normal": lambda key, n, dtype: jax.random.truncated_normal(key, -2, 2, n, dtype),
    "uniform": lambda key, n, dtype: jax.random.uniform(key, n, dtype, -1),
}


def _draw(distribution: str, key, shape, dtype):
  """A standard draw (``_DRAWS``) of ``shape``, made over prod(shape) and
  reshaped."""
  return _DRAWS[distribution](key, (math.prod(shape),), dtype).reshape(shape)


def normal(stddev: float = 1e-2):
  """jax.nn.initializers.normal: N(0, stddev^2).

  Args:
    stddev: the standard deviation.

  Returns:
    An initialiser (key, shape, dtype=float32) -> array of ``shape``.
  """
  def init(key, shape, dtype=jnp.float32):
    return _draw("normal", key, tuple(shape), dtype) * jnp.array(stddev, dtype)
  return init


def variance_scaling(scale: float, mode: str, distribution: str):
  """jax.nn.initializers.variance_scaling with in_axis -2 and out_axis -1:
  variance scale / n, n the fan in, fan out or their mean (``mode``), where
  a kernel's fans count its receptive field (the product of its leading
  axes) times its input or output features (He et al. 2015; Glorot and
  Bengio 2010).

  Args:
    scale: the variance's numerator.
    mode: "fan_in", "fan_out" or "fan_avg".
    distribution: "truncated_normal" (to two standard deviations, rescaled
      to the variance), "normal" or "uniform".

  Returns:
    An initialiser (key, shape, dtype=float32) -> array of ``shape``.

  Raises:
    ValueError: an unknown mode or distribution, or a shape of rank < 2.
  """
  if mode not in ("fan_in", "fan_out", "fan_avg"):
    raise ValueError(f"unknown mode {mode!r}: fan_in, fan_out or fan_avg")
  if distribution not in _DRAWS:
    raise ValueError(f"unknown distribution {distribution!r}: {', '.join(_DRAWS)}")

  def init(key, shape, dtype=jnp.float32):
    shape = tuple(shape)
    if len(shape) < 2:
      raise ValueError(f"variance scaling needs a kernel of rank >= 2, got shape {shape}")
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    denominator = {"fan_in": fan_in, "fan_out": fan_out,
                   "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = jnp.array(scale / denominator, dtype=dtype)
    if distribution == "truncated_normal":
      stddev = jnp.sqrt(variance) / jnp.array(_TRUNCATED_STD, dtype)
      return _draw(distribution, key, shape, dtype) * stddev
    if distribution == "normal":
      return _draw(distribution, key, shape, dtype) * jnp.sqrt(variance)
    return _draw(distribution, key, shape, dtype) * jnp.sqrt(3 * variance)
  return init


def lecun_normal():
  """jax.nn.initializers.lecun_normal: variance 1 / fan in, truncated normal
  (LeCun et al. 1998). flax's Dense and Conv default.

  Returns:
    An initialiser (key, shape, dtype=float32) -> array of ``shape``.
  """
  return variance_scaling(1.0, "fan_in", "truncated_normal")


def glorot_uniform(gain: float = 1.0):
  """Glorot and Bengio's uniform initialisation with a gain:
  U(-a, a), a = gain sqrt(6 / (fan in + fan out)), torch.nn.init's
  xavier_uniform_ (variance_scaling(gain^2, "fan_avg", "uniform")).

  Args:
    gain: the gain (SNGAN's ResNets: sqrt(2) in residual branches, 1 elsewhere).

  Returns:
    An initialiser (key, shape, dtype=float32) -> array of ``shape``.
  """
  return variance_scaling(gain * gain, "fan_avg", "uniform")

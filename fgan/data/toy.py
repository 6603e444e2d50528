"""Toy distributions with known densities: Gaussian mixtures sampled inside
the compiled step.

``MIXTURES`` owns the names; each entry maps config.data to the mixture's
(weights (K,), means (K, d), stds (K,)):

  ring8      8 Gaussians evenly spaced on a circle of radius 2, std 0.02
             (Metz et al. 2017, "Unrolled GANs"; also VEEGAN, PacGAN)
  grid25     25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN)
  mixture1d  a 1-D mixture with the config's data.weights, .means, .stds
"""

from __future__ import annotations

import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np

from fgan import errors
from fgan.data.dataset import Dataset


def ring(k: int, radius: float, std: float):
  """k equal-weight Gaussians evenly spaced on a circle.

  Args:
    k: their number.
    radius: the circle's.
    std: each Gaussian's.

  Returns:
    (weights (k,), means (k, 2), stds (k,)).
  """
  angles = 2 * np.pi * np.arange(k) / k
  means = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
  return np.full(k, 1 / k), means, np.full(k, std)


def grid(side: int, spacing: float, std: float):
  """side^2 equal-weight Gaussians on a square grid centred at 0.

  Args:
    side: Gaussians per row.
    spacing: between neighbours.
    std: each Gaussian's.

  Returns:
    (weights (side^2,), means (side^2, 2), stds (side^2,)).
  """
  g = spacing * (np.arange(side) - (side - 1) / 2)
  means = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
  return np.full(side * side, 1 / side**2), means, np.full(side * side, std)


def _mixture1d(data_config):
  means = np.asarray(data_config.means, np.float64).reshape(-1, 1)
  stds = np.asarray(data_config.stds, np.float64)
  weights = np.asarray(data_config.weights, np.float64)
  if not (len(means) == len(stds) == len(weights)) or np.any(stds <= 0) or (
      np.any(weights < 0) or not np.isclose(weights.sum(), 1.0)):
    raise errors.ConfigError(
        "config.data.means, .stds and .weights must have equal lengths, stds > 0 and "
        f"weights >= 0 summing to 1; got {data_config.means}, {data_config.stds}, "
        f"{data_config.weights}.")
  return weights, means, stds


MIXTURES = {
    "ring8": lambda data_config: ring(8, 2.0, 0.02),
    "grid25": lambda data_config: grid(5, 2.0, 0.05),
    "mixture1d": _mixture1d,
}


def mixture_params(data_config):
  """The named toy mixture's parameters.

  Args:
    data_config: config.data (a name of ``MIXTURES``).

  Returns:
    (weights (K,), means (K, d), stds (K,)).

  Raises:
    errors.ConfigError: mixture1d's parameters do not make a mixture.
  """
  return MIXTURES[data_config.name](data_config)


def toy_dataset(data_config, process_index: int = 0, process_count: int = 1) -> Dataset:
  """The toy mixture as a Dataset sampled inside the step.

  Args:
    data_config: config.data.
    process_index, process_count: this process among the run's; each draws
      the whole global batch and keeps its rows.

  Returns:
    The Dataset (no arrays; info records the mixture and its checksum).
  """
  weights, means, stds = mixture_params(data_config)
  log_w = jnp.log(jnp.asarray(weights, jnp.float32))
  mu, sd = jnp.asarray(means, jnp.float32), jnp.asarray(stds, jnp.float32)

  def sample(arrays, key, n, update=0):
    del arrays, update
    kc, kn = jax.random.split(key)
    comp = jax.random.categorical(kc, log_w, shape=(n,))
    x = mu[comp] + sd[comp, None] * jax.random.normal(kn, (n, mu.shape[1]))
    return x.reshape((process_count, -1) + x.shape[1:])[process_index]

  params = {"weights": weights.tolist(), "means": means.tolist(),
            "stds": stds.tolist()}
  digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
  info = dict(name=data_config.name, source="fgan.data.toy (sampled in-step)",
              content_sha256=digest, **params)
  return Dataset(name=data_config.name, kind="toy", shape=(means.shape[1],), arrays={},
                 sample=sample, info=info)

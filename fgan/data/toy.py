"""Toy distributions with known densities.

ring8: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (Metz et
al. 2017, "Unrolled GANs"; also VEEGAN, PacGAN). grid25: 25 Gaussians at
{-4, -2, 0, 2, 4}^2, std 0.05 (VEEGAN, PacGAN). mixture1d: a 1-D Gaussian
mixture with the config's weights, means and stds (data.weights, .means,
.stds). All are equal-weight unless weights are given, and sampled inside the
compiled step.
"""

from __future__ import annotations

import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np

from fgan.data.dataset import Dataset

TOY_NAMES = ("mixture1d", "ring8", "grid25")


def mixture_params(data_config):
  """(weights (K,), means (K, d), stds (K,)) of the named toy mixture."""
  name = data_config.name
  if name == "ring8":
    angles = 2 * np.pi * np.arange(8) / 8
    means = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    return np.full(8, 1 / 8), means, np.full(8, 0.02)
  if name == "grid25":
    g = np.arange(-4.0, 5.0, 2.0)
    means = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return np.full(25, 1 / 25), means, np.full(25, 0.05)
  if name == "mixture1d":
    means = np.asarray(data_config.means, np.float64).reshape(-1, 1)
    stds = np.asarray(data_config.stds, np.float64)
    weights = np.asarray(data_config.weights, np.float64)
    if not (len(means) == len(stds) == len(weights)) or np.any(stds <= 0) or (
        np.any(weights < 0) or not np.isclose(weights.sum(), 1.0)):
      raise ValueError("data.means, data.stds and data.weights must have equal "
                       "lengths, stds > 0 and weights >= 0 summing to 1; got "
                       f"{data_config.means}, {data_config.stds}, "
                       f"{data_config.weights}.")
    return weights, means, stds
  raise ValueError(f"Unknown toy dataset {name!r}; valid: {', '.join(TOY_NAMES)}.")


def toy_dataset(data_config, process_index: int = 0, process_count: int = 1) -> Dataset:
  """The toy mixture; a process draws the global batch and keeps its rows."""
  weights, means, stds = mixture_params(data_config)
  log_w = jnp.log(jnp.asarray(weights, jnp.float32))
  mu, sd = jnp.asarray(means, jnp.float32), jnp.asarray(stds, jnp.float32)

  def sample(arrays, key, n):
    del arrays
    kc, kn = jax.random.split(key)
    comp = jax.random.categorical(kc, log_w, shape=(n,))
    x = mu[comp] + sd[comp, None] * jax.random.normal(kn, (n, mu.shape[1]))
    return x.reshape((process_count, -1) + x.shape[1:])[process_index]

  params = {"weights": weights.tolist(), "means": means.tolist(),
            "stds": stds.tolist()}
  digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
  info = dict(name=data_config.name, source="fgan.data.toy (sampled in-step)",
              content_sha256=digest, **params)
  return Dataset(name=data_config.name, shape=(means.shape[1],), arrays={},
                 sample=sample, info=info)

"""The Dataset record shared by image and toy sources."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


def as_float(images):
  """uint8 pixels k -> k / 127.5 - 1, in [-1, 1] (float32): the scale of
  every image fgan trains on, generates (tanh) and evaluates."""
  return jnp.asarray(images).astype(jnp.float32) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset ready for in-step sampling.

  Attributes:
    name: the config's data name.
    kind: "images" (arrays held on the device, sampled by index) or "toy"
      (a density sampled in the step; no arrays).
    shape: shape of one example (H, W, C) for images, (d,) for toy data.
    arrays: host arrays to place on the device once (empty for toy data).
    sample: pure (arrays, key, n) -> batch of n examples, float32; images in
      [-1, 1].
    info: source, checksums, sizes: the data identity a run records.
    labels: class labels of the examples, if any.
  """

  name: str
  kind: str
  shape: tuple[int, ...]
  arrays: dict[str, np.ndarray]
  sample: Callable[[dict[str, jax.Array], jax.Array, int], jax.Array]
  info: dict[str, Any]
  labels: np.ndarray | None = None

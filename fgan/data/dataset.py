"""The Dataset record shared by image and toy sources."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


def as_float(images):
  """uint8 pixels k -> k / 127.5 - 1, in [-1, 1] (float32): the scale of
  every image fgan trains on, generates (tanh) and evaluates.

  Args:
    images: uint8 array.

  Returns:
    float32 array of the same shape.
  """
  return jnp.asarray(images).astype(jnp.float32) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset ready for the train step.

  Attributes:
    name: the config's data name.
    kind: "images" or "toy" (a density sampled in the step; no arrays).
    shape: shape of one example (H, W, C) for images, (d,) for toy data.
    arrays: host arrays to place on the device once: the images held in
      memory ({} for toy data and streamed images).
    sample: pure (arrays, key, n, update) -> this host's rows of a global
      batch of n, float32 (images in [-1, 1]), for the critic update
      ``update`` of a step. In memory, ``arrays`` are the arrays above and
      the rows are drawn by index from ``key``; streamed, ``arrays`` is the
      step's {"batches": (n_critic, rows, H, W, C)} read by ``stream``.
    info: source, checksums, sizes, preprocessing: the data identity a run
      records.
    labels: class labels of the examples held in memory, if any.
    num_classes: the number of classes; 0 without labels.
    stream: the host-side reader of a streamed dataset
      (fgan.data.stream.Stream), or None.
  """

  name: str
  kind: str
  shape: tuple[int, ...]
  arrays: dict[str, np.ndarray]
  sample: Callable[..., jax.Array]
  info: dict[str, Any]
  labels: np.ndarray | None = None
  num_classes: int = 0
  stream: Any = None

"""The Dataset record shared by image and toy sources."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset ready for in-step sampling.

  Attributes:
    name: the config's data name.
    shape: shape of one example (H, W, C) for images, (d,) for toy data.
    arrays: host arrays to place on the device once (empty for toy data).
    sample: pure (arrays, key, n) -> batch of n examples, float32; images in
      [-1, 1].
    info: source, checksums, sizes: the data identity a run records.
    labels: class labels of the examples, if any.
  """

  name: str
  shape: tuple[int, ...]
  arrays: dict[str, np.ndarray]
  sample: Callable[[dict[str, jax.Array], jax.Array, int], jax.Array]
  info: dict[str, Any]
  labels: np.ndarray | None = None

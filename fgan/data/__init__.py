"""Datasets by name: real images kept whole on the device, toy densities sampled in-step.

``load(data_config)`` returns a ``Dataset`` whose ``sample(arrays, key, n)`` is a
pure function drawing a batch inside a compiled train step: image batches by
random index into the on-device array (with replacement), toy batches from
their density. ``info`` records the source used and checksums, and goes into
every run's work directory.

Names (``config.data.name``): ``mnist``, ``fashion_mnist``, ``tfds:<name>``
(any TFDS image dataset prepared locally or downloadable), ``mixture1d``,
``ring8``, ``grid25``.
"""

from __future__ import annotations

from fgan.data.dataset import Dataset, as_float
from fgan.data.images import data_dir, image_dataset
from fgan.data.toy import toy_dataset, TOY_NAMES

IMAGE_NAMES = ("mnist", "fashion_mnist")


def names() -> tuple[str, ...]:
  return IMAGE_NAMES + TOY_NAMES + ("tfds:<name>",)


def load(data_config, split: str = "train", process_index: int = 0,
         process_count: int = 1) -> Dataset:
  """The dataset named by ``data_config.name`` (see module docstring).

  With several processes (multi-host training), each keeps only its share
  of the data and its sampler draws only its rows of the global batch.
  """
  name = data_config.name
  if name in TOY_NAMES:
    return toy_dataset(data_config, process_index, process_count)
  if name in IMAGE_NAMES or name.startswith("tfds:"):
    return image_dataset(data_config, split, process_index, process_count)
  raise ValueError(f"Unknown dataset {name!r}. Valid names: "
                   f"{', '.join(names())}.")

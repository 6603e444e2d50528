"""Datasets by name: real images kept whole on the device, toy densities sampled in-step.

``load(data_config)`` returns a ``Dataset`` whose ``sample(arrays, key, n)`` is a
pure function drawing a batch inside a compiled train step: image batches by
random index into the on-device array (with replacement), toy batches from
their density. ``info`` records the source used and checksums, and goes into
every run's work directory.

Names (``config.data.name``): ``IMAGE_NAMES`` (fgan.data.images), ``tfds:<name>``
(any TFDS image dataset prepared locally or downloadable) and the toy
mixtures of ``toy.MIXTURES``. ``check`` validates config.data before anything
is loaded.
"""

from __future__ import annotations

from fgan import errors
from fgan.data import toy
from fgan.data.dataset import Dataset, as_float
from fgan.data.images import cache_path, data_dir, image_dataset, SOURCES

IMAGE_NAMES = ("mnist", "fashion_mnist")


def names() -> tuple[str, ...]:
  return IMAGE_NAMES + tuple(toy.MIXTURES) + ("tfds:<name>",)


def kind(name: str) -> str:
  """"images" or "toy" for a dataset name; a ConfigError for others."""
  if name in IMAGE_NAMES or name.startswith("tfds:"):
    return "images"
  if name in toy.MIXTURES:
    return "toy"
  raise errors.ConfigError(f"config.data.name = {name!r} is not a known dataset; valid: "
                           f"{', '.join(names())}.")


def check(data_config) -> None:
  """The dataset's name and the fields that apply to its kind."""
  if kind(data_config.name) == "toy":
    if data_config.resize:
      raise errors.ConfigError(
          f"config.data.resize = {data_config.resize} resizes images, but "
          f"{data_config.name!r} is toy vector data; set it to 0.")
    toy.mixture_params(data_config)  # checks mixture1d's components
    return


def check_layout(data_config, batch_size: int, process_count: int) -> None:
  """The training set's shards against the batch and the hosts."""
  shards = data_config.shards
  if batch_size % shards or shards % process_count:
    raise errors.ConfigError(
        f"config.data.shards = {shards} must divide the batch size {batch_size} and be "
        f"a multiple of the process count {process_count}.")


def load(data_config, split: str = "train", process_index: int = 0,
         process_count: int = 1) -> Dataset:
  """The dataset named by ``data_config.name`` (see module docstring).

  With several processes (multi-host training), each keeps only its share
  of the data and its sampler draws only its rows of the global batch.
  """
  if kind(data_config.name) == "toy":
    return toy.toy_dataset(data_config, process_index, process_count)
  return image_dataset(data_config, split, process_index, process_count)

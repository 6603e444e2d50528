"""Datasets by name: real images, on the device or streamed, and toy
densities sampled in the step.

``load(data_config)`` returns a ``Dataset`` whose ``sample`` is a pure
function drawing a batch inside a compiled train step: image batches by
random index into the on-device array (with replacement) or from the rows a
streamed dataset's host reader hands the step (fgan.data.stream), toy
batches from their density. ``info`` records the source, its checksums and
the preprocessing, and goes into every run's work directory.

Names (``config.data.name``): "mnist" and "fashion_mnist" (fgan.data.sources),
"tfds:<name>" (any TFDS image dataset prepared on the machine),
"folder:<path>" (a folder of PNG and JPEG images, fgan.data.folder), and the
toy mixtures of ``toy.MIXTURES``. ``check`` validates config.data before
anything is loaded.
"""

from __future__ import annotations

from fgan import errors
from fgan.data import images
from fgan.data import preprocess
from fgan.data import toy
from fgan.data.dataset import Dataset, as_float
from fgan.data.files import data_dir
from fgan.data.sources import SOURCES

IMAGE_NAMES = ("mnist", "fashion_mnist")
IMAGE_PREFIXES = ("tfds:", "folder:")


def names() -> tuple[str, ...]:
  """The dataset names config.data.name takes.

  Returns:
    The names, with "tfds:<name>" and "folder:<path>" for those families.
  """
  return IMAGE_NAMES + tuple(toy.MIXTURES) + ("tfds:<name>", "folder:<path>")


def kind(name: str) -> str:
  """The kind of a dataset name.

  Args:
    name: config.data.name.

  Returns:
    "images" or "toy".

  Raises:
    errors.ConfigError: not a known dataset.
  """
  if name in IMAGE_NAMES or (name.startswith(IMAGE_PREFIXES) and name.split(":", 1)[1]):
    return "images"
  if name in toy.MIXTURES:
    return "toy"
  raise errors.ConfigError(f"config.data.name = {name!r} is not a known dataset; valid: "
                           f"{', '.join(names())}.")


def check(data_config) -> None:
  """The rules across config.data's fields (each field's own range:
  fgan.validation.RULES).

  Args:
    data_config: config.data.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  if kind(data_config.name) == "toy":
    for field in ("resize", "crop", "flip"):
      if data_config[field]:
        raise errors.ConfigError(
            f"config.data.{field} = {data_config[field]} is for images, but "
            f"{data_config.name!r} is toy vector data; set it to its default.")
    toy.mixture_params(data_config)  # checks mixture1d's components
    return
  preprocess.check(data_config)


def check_layout(data_config, batch_size: int, process_count: int) -> None:
  """The training set's shards against the batch and the hosts.

  Args:
    data_config: config.data.
    batch_size: the global batch.
    process_count: the run's processes.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  shards = data_config.shards
  if batch_size % shards or shards % process_count:
    raise errors.ConfigError(
        f"config.data.shards = {shards} must divide the batch size {batch_size} and be "
        f"a multiple of the process count {process_count}.")


def load(data_config, split: str = "train", process_index: int = 0,
         process_count: int = 1, whole: bool | None = None) -> Dataset:
  """The dataset named by ``data_config.name`` (see the module docstring).

  With several processes (multi-host training), each keeps (or reads) only
  its share of the data and its sampler draws only its rows of the global
  batch.

  Args:
    data_config: config.data.
    split: "train" or "test".
    process_index, process_count: this process among the run's processes.
    whole: images: force in-memory (True) or streamed (False); None: by
      data.in_memory_max_mb.

  Returns:
    The Dataset.

  Raises:
    errors.DataUnavailableError, errors.DataIntegrityError: the data cannot
      be had or is not what it should be; the message says how to fix it.
  """
  if kind(data_config.name) == "toy":
    return toy.toy_dataset(data_config, process_index, process_count)
  return images.image_dataset(data_config, split, process_index, process_count, whole)


__all__ = ["Dataset", "SOURCES", "as_float", "check", "check_layout", "data_dir", "kind",
           "load", "names"]

"""Image datasets: a split's raw examples (fgan.data.sources), preprocessed
into a cache (fgan.data.cache), held on the device when they fit the memory
budget and streamed from the host when they do not (fgan.data.stream).

Either way a batch is drawn by the same rule (``group_indices``): the
training set is split into data.shards contiguous groups, a global batch
of n takes n / shards examples from each group, with replacement, by index
from its key; with data.flip each image is mirrored with probability 1/2
from the same key (fgan.data.preprocess.random_flip). The batch at step t is
therefore a function of (seed, t) alone, whichever way its images reach the
step: a streamed run equals the in-memory run of the same data, and a host
of a multi-host run draws (and, streamed, reads) exactly its rows.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from fgan import compute
from fgan.data import cache
from fgan.data import preprocess
from fgan.data import sources
from fgan.data import stream as stream_lib
from fgan.data.dataset import Dataset, as_float


def group_indices(key, groups: range, num_groups: int, group_size: int, n: int) -> jax.Array:
  """Indices of this host's rows of a global batch drawn by groups.

  Args:
    key: the batch's key.
    groups: the groups this host holds.
    num_groups: data.shards.
    group_size: examples per group.
    n: the global batch size.

  Returns:
    (n / num_groups * len(groups),) indices into the whole training set:
    group g's rows from fold_in(key, g), with replacement.
  """
  rows = n // num_groups
  return jnp.concatenate([
      g * group_size + jax.random.randint(jax.random.fold_in(key, g), (rows,), 0, group_size)
      for g in groups])


def group_sampler(groups: range, num_groups: int, group_size: int, flip: bool = False,
                  first_row: int | None = None):
  """Sampler of this host's rows of a global batch from its in-memory rows.

  Args:
    groups: the groups this host holds.
    num_groups: data.shards.
    group_size: examples per group.
    flip: mirror each image with probability 1/2.
    first_row: the index of the first row held (default: the first group's
      first example).

  Returns:
    sample(arrays, key, n, update=0) -> (rows, H, W, C) float32 in [-1, 1].
  """
  first = groups.start * group_size if first_row is None else first_row

  def sample(arrays, key, n, update=0):
    del update
    idx = group_indices(key, groups, num_groups, group_size, n) - first
    x = as_float(jnp.take(arrays["images"], idx, axis=0))
    return preprocess.random_flip(x, key, groups) if flip else x
  return sample


def memory_budget(data_config) -> int:
  """Bytes of training images held on the device: data.in_memory_max_mb, or
  (when it is 0) a quarter of the device's memory (the host's RAM on CPUs).

  Args:
    data_config: config.data.

  Returns:
    The budget in bytes.
  """
  if data_config.in_memory_max_mb:
    return int(data_config.in_memory_max_mb * 2**20)
  return compute.device_memory_bytes() // 4


def load_split(data_config, split: str, whole: bool | None = None):
  """A split's preprocessed arrays, from its cache (built on first use).

  Args:
    data_config: config.data.
    split: "train" or "test".
    whole: read the images into memory (True), memory-map them (False), or
      decide by the memory budget (None).

  Returns:
    (images (N, H, W, C) uint8, memory-mapped or not, labels or None, info).
  """
  raw = sources.raw_split(data_config, split)
  for _ in range(2):  # a damaged cache is rebuilt once
    path = cache.build(data_config, split, raw)
    info = cache.read(path, whole=False)
    if info is None:
      continue
    images = info[0]
    if whole is None:
      whole = images.nbytes <= memory_budget(data_config)
    loaded = cache.read(path, whole=True) if whole else info
    if loaded is not None:
      images, labels, meta = loaded
      return images, labels, dict(meta, name=data_config.name, split=split, streamed=not whole)
  raise RuntimeError(f"the cache {path} was damaged twice in a row")


def image_dataset(data_config, split: str = "train", process_index: int = 0,
                  process_count: int = 1, whole: bool | None = None) -> Dataset:
  """The image dataset: on the device when it fits data.in_memory_max_mb (or
  ``whole``), else streamed; with several processes, only this process's
  share of the data.shards groups is kept or read.

  Args:
    data_config: config.data.
    split: "train" or "test".
    process_index, process_count: this process among the run's processes.
    whole: force in-memory (True) or streamed (False); None: by the budget.

  Returns:
    The Dataset.
  """
  images, labels, info = load_split(data_config, split, whole)
  shards = data_config.shards
  group_size = len(images) // shards
  per_host = shards // process_count
  groups = range(process_index * per_host, (process_index + 1) * per_host)
  keep = slice(groups.start * group_size, groups.stop * group_size)
  info = dict(info, shards=shards, examples_used=shards * group_size,
              host_groups=[groups.start, groups.stop])
  flip = bool(data_config.flip) and split == "train"
  info["flip"] = flip
  common = dict(name=data_config.name, kind="images", shape=tuple(images.shape[1:]), info=info,
                labels=None if labels is None else labels[keep],
                num_classes=int(info.get("num_classes", 0)))
  if not info["streamed"]:
    return Dataset(arrays={"images": images[keep]},
                   sample=group_sampler(groups, shards, group_size, flip), **common)
  feed = stream_lib.Stream(images, groups, shards, group_size)
  return Dataset(arrays={}, sample=stream_lib.streamed_sampler(flip, groups), stream=feed,
                 **common)


def in_memory_rows(dataset: Dataset, max_bytes: int) -> Dataset:
  """An in-memory dataset of at most ``max_bytes`` of ``dataset``'s images
  (itself when it is in memory): evenly spaced rows of a streamed set, for
  what needs its data on the device (the held-out estimator's critic).

  Args:
    dataset: an image Dataset.
    max_bytes: the bytes allowed.

  Returns:
    The Dataset.
  """
  if dataset.stream is None:
    return dataset
  images = dataset.stream.images
  per = math.prod(images.shape[1:])
  n = max(1, min(len(images), max_bytes // per))
  picked = np.linspace(0, len(images) - 1, n).astype(np.int64)
  return Dataset(name=dataset.name, kind="images", shape=dataset.shape,
                 arrays={"images": np.asarray(images[picked])},
                 sample=group_sampler(range(1), 1, n, bool(dataset.info.get("flip")), 0),
                 info=dict(dataset.info, rows_in_memory=n),
                 labels=None if dataset.labels is None else dataset.labels[picked],
                 num_classes=dataset.num_classes)

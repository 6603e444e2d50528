"""Streaming a training set larger than the memory budget from the host.

The preprocessed images stay on disk, memory-mapped (fgan.data.cache); for
each compiled call of the train loop the host reads the rows its steps
draw and hands them to the step, read ahead by grain (the JAX ecosystem's
data loader: a MapDataset over the run's calls, iterated with a thread
pool and a prefetch buffer, so reading overlaps the device's step).

The rows are those the in-memory dataset would draw: the host computes
each critic update's key exactly as the train step does
(fgan.train.real_batch_keys) and the indices from it with the same rule
(fgan.data.images.group_indices). A streamed run therefore equals the
in-memory run of the same data, and resumes like it. Each host reads only
the rows of its own groups (data.shards).
"""

from __future__ import annotations

from typing import Callable, Iterator

import grain
import jax
import numpy as np

from fgan.data import preprocess
from fgan.data.dataset import as_float

PREFETCH = 2  # calls read ahead


def streamed_sampler(flip: bool, groups: range):
  """The step's sampler of streamed rows.

  Args:
    flip: mirror each image with probability 1/2 (from the update's key, as
      in memory).
    groups: the data groups this host reads.

  Returns:
    sample(arrays, key, n, update) -> arrays["batches"][update] as float32 in
    [-1, 1].
  """
  def sample(arrays, key, n, update=0):
    del n
    x = as_float(arrays["batches"][update])
    return preprocess.random_flip(x, key, groups) if flip else x
  return sample


class Stream:
  """The host's reader of a streamed training set.

  Attributes:
    images: the memory-mapped (N, H, W, C) uint8 training set.
  """

  def __init__(self, images: np.ndarray, groups: range, num_groups: int, group_size: int):
    """Args: images, the memory-mapped set; groups, this host's groups of
    data.shards = num_groups groups of group_size examples."""
    from fgan.data import images as images_lib  # pylint: disable=import-outside-toplevel
    self.images = images
    self._cpu = jax.local_devices(backend="cpu")[0]
    draw = lambda key, n: images_lib.group_indices(key, groups, num_groups, group_size, n)
    self._indices = jax.jit(jax.vmap(draw, in_axes=(0, None)), static_argnums=1)

  def indices(self, keys: np.ndarray, n: int) -> np.ndarray:
    """The training-set rows a call's critic updates draw on this host.

    Args:
      keys: (steps, n_critic, ...) the updates' real-batch keys
        (fgan.train.real_batch_keys).
      n: the global batch size.

    Returns:
      (steps, n_critic, rows) indices, all in this host's groups.
    """
    flat = keys.reshape((-1,) + keys.shape[2:])
    with jax.default_device(self._cpu):
      idx = np.asarray(self._indices(jax.device_put(flat, self._cpu), n))
    return idx.reshape(keys.shape[:2] + idx.shape[1:])

  def batches(self, keys: np.ndarray, n: int) -> np.ndarray:
    """The images a call's critic updates draw on this host.

    Args:
      keys: (steps, n_critic, ...) the updates' real-batch keys.
      n: the global batch size.

    Returns:
      (steps, n_critic, rows, H, W, C) uint8, read from the memory-mapped set.
    """
    idx = self.indices(keys, n)
    return self.images[idx.reshape(-1)].reshape(idx.shape + self.images.shape[1:])

  def feed(self, calls: list[tuple[int, int]], keys_of: Callable[[int, int], np.ndarray],
           n: int) -> Iterator[dict]:
    """The data of each of a run's calls, read ahead of the step.

    Args:
      calls: (first step, steps) of each call, in order.
      keys_of: (first step, steps) -> their (steps, n_critic, ...) keys.
      n: the global batch size.

    Returns:
      An iterator of {"batches": (steps, n_critic, rows, H, W, C)}.
    """
    load = lambda call: {"batches": self.batches(keys_of(*call), n)}
    options = grain.ReadOptions(num_threads=1, prefetch_buffer_size=PREFETCH)
    return iter(grain.MapDataset.source(calls).map(load).to_iter_dataset(options))

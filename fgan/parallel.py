"""Data-parallel execution of the pure train step, on one host or many.

Modes (config.parallel.mode):
  none: jax.jit on the default device.
  pmap: jax.pmap over all devices with axis "batch". Each device computes its
    rows of the global batch; gradients, metrics and batch-norm statistics
    are averaged over the axis (fgan.train.make_train_step, BatchNorm's
    axis_name), so a step equals the one-device step on the same global
    batch. Works across hosts (jax.distributed): the axis spans every
    process's devices.
  mesh: jax.jit over a 1-D device Mesh ("batch"), state and data replicated
    (NamedSharding with PartitionSpec()), the batch constrained to be sharded
    along "batch"; XLA inserts the collectives. Batch-norm statistics are
    those of the global batch by construction. One host only.

Every mode draws the same global batch (fgan.data shards it by group), so
the parameters after N steps do not depend on the device count. Checkpoints
hold one unreplicated copy of the state and restore in any mode.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fgan import train

AXIS = "batch"


def initialize_distributed(coordinator: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """jax.distributed.initialize from flags or the environment.

  Explicit arguments win; otherwise JAX reads its own environment (cluster
  auto-detection on TPU/SLURM/...) when FGAN_COORDINATOR or JAX's variables
  are set. CPU processes use gloo collectives.
  """
  coordinator = coordinator or os.environ.get("FGAN_COORDINATOR")
  if num_processes is None and "FGAN_NUM_PROCESSES" in os.environ:
    num_processes = int(os.environ["FGAN_NUM_PROCESSES"])
  if process_id is None and "FGAN_PROCESS_ID" in os.environ:
    process_id = int(os.environ["FGAN_PROCESS_ID"])
  if coordinator is None and num_processes is None:
    return
  if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS") == "cpu":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator,
                             num_processes=num_processes, process_id=process_id)


@functools.cache
def compiler_options() -> dict:
  """XLA options for fgan's compiled train and evaluation programs on this
  backend. On CPUs, XLA's YNNPACK fusions off: its convolutions run slower
  than XLA's own (Eigen's) there, 1.2x the DCGAN step's time at batch 64
  (experiments/RESULTS.md, Benchmark); the values agree to float32
  rounding (tests/test_models.py). An XLA without the option (jaxlib before
  0.9) gets none. jax.pmap takes no options: a pmapped step keeps XLA's
  defaults."""
  if jax.default_backend() != "cpu":
    return {}
  options = {"xla_cpu_experimental_ynn_fusion_type": ""}
  try:
    jax.jit(lambda x: x + 1.0, compiler_options=options).lower(1.0).compile()
  except jax.errors.JaxRuntimeError:
    return {}
  return options


def _first_copy(x):
  """The first local device's copy of a pmapped array (leading device axis),
  read from its shard: indexing the global array would gather."""
  return x.addressable_shards[0].data[0]


class Runner:
  """Compiles ``k`` train steps per call for the config's parallel mode and
  moves state and data to and from the devices."""

  def __init__(self, config, generator_critic_fn, dataset, steps_per_call: int,
               num_seeds: int = 0):
    """``num_seeds`` > 0: the state has a leading axis of that many seeds and
    the step is vmapped over it (mode "none" only)."""
    self.mode = config.parallel.mode
    axis = AXIS if self.mode == "pmap" else None
    self.generator, self.critic = generator_critic_fn(axis)
    step = train.make_train_step(config, self.generator, self.critic, dataset,
                                 axis_name=axis)
    if num_seeds:
      if self.mode != "none":
        raise ValueError("Vmapped seeds need parallel mode 'none'.")
      step = jax.vmap(step, in_axes=(0, None))
    fn = train.multi_step(step, steps_per_call)
    options = compiler_options()
    if self.mode == "none":
      self._fn = jax.jit(fn, compiler_options=options)
    elif self.mode == "pmap":
      self._fn = jax.pmap(fn, axis_name=AXIS)
    else:
      self.mesh = Mesh(np.asarray(jax.devices()), (AXIS,))
      replicated = NamedSharding(self.mesh, PartitionSpec())
      step = train.make_train_step(config, self.generator, self.critic, dataset,
                                   batch_sharding=NamedSharding(self.mesh, PartitionSpec(AXIS)))
      self._fn = jax.jit(train.multi_step(step, steps_per_call),
                         out_shardings=replicated, compiler_options=options)
      self._replicated = replicated

  def place(self, tree):
    """Host pytree -> device pytree for this mode (state or data); under
    pmap one copy per local device, stacked on a leading axis sharded over
    them."""
    if self.mode == "none":
      return jax.device_put(tree)
    if self.mode == "pmap":
      devices = jax.local_devices()
      per_device = NamedSharding(Mesh(np.asarray(devices), (AXIS,)), PartitionSpec(AXIS))
      return jax.tree.map(
          lambda x: jax.device_put(np.stack([np.asarray(x)] * len(devices)), per_device), tree)
    return jax.device_put(tree, self._replicated)

  def host(self, tree):
    """Device pytree -> one host copy (numpy); under pmap the first local
    device's (all hold the same)."""
    if self.mode == "pmap":
      tree = jax.tree.map(_first_copy, tree)
    return jax.device_get(tree)

  def gflop(self, state, data) -> float:
    """GFLOP of one call on arguments shaped like these, from XLA's cost
    analysis of the program compiled for the CPU, which counts every
    convolution and product, whatever the backend the run uses (a GPU
    program's convolutions are cuDNN calls that the analysis does not
    count); NaN where none is given."""
    shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), (state, data))
    with jax.default_device(jax.devices("cpu")[0]):
      cost = self._fn.lower(*shapes).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return (cost or {}).get("flops", float("nan")) / 1e9

  def __call__(self, state, data):
    state, metrics = self._fn(state, data)
    if self.mode == "pmap":
      metrics = jax.tree.map(_first_copy, metrics)
    return state, metrics

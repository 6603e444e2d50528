"""Data-parallel execution of the pure train step, on one host or many.

Modes (config.parallel.mode):
  none: jax.jit on the default device.
  pmap: jax.pmap over all devices with axis "batch". Each device computes its
    rows of the global batch; gradients, metrics and batch-norm statistics
    are averaged over the axis (fgan.train.make_train_step, models.with_axis),
    so a step equals the one-device step on the same global batch. Works
    across hosts (jax.distributed): the axis spans every process's devices.
  mesh: jax.jit over a 1-D device Mesh ("batch"), state and data replicated
    (NamedSharding with PartitionSpec()), the batch constrained to be sharded
    along "batch"; XLA inserts the collectives. Batch-norm statistics are
    those of the global batch by construction. One host only.

Every mode draws the same global batch (fgan.data shards it by group), so
the parameters after N steps do not depend on the device count. Checkpoints
hold one unreplicated copy of the state and restore in any mode. No mode
donates the state's buffers to the step: the host's copy of the state and
the next step never share memory.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fgan import errors
from fgan import models
from fgan import train

AXIS = "batch"
MODES = ("none", "pmap", "mesh")


def simulated_devices_env(devices: int, **extra) -> dict:
  """The environment for a subprocess that sees ``devices`` simulated CPU
  devices. XLA reads it before jax is imported, so it only works for a new
  process.

  Args:
    devices: the device count (XLA's --xla_force_host_platform_device_count).
    **extra: further variables to set.

  Returns:
    os.environ with ``extra`` and JAX_PLATFORMS=cpu set. The caller's own
    XLA_FLAGS are kept and the device count is appended, so a run under
    e.g. --xla_cpu_max_isa=AVX2 passes that on to its subprocesses.
  """
  flags = os.environ.get("XLA_FLAGS", "")
  return dict(os.environ, JAX_PLATFORMS="cpu", **extra,
              XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}".strip())


def initialize_distributed(coordinator: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """jax.distributed.initialize from flags or the environment.

  Explicit arguments win; otherwise JAX reads its own environment (cluster
  auto-detection on TPU/SLURM/...) when FGAN_COORDINATOR or JAX's variables
  are set. CPU processes use gloo collectives.

  Args:
    coordinator: host:port of process 0, or None.
    num_processes: the process count, or None.
    process_id: this process's index, or None.
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


def check(config, num_seeds: int = 1) -> None:
  """The parallel mode against the config (no devices needed).

  Args:
    config: the run config.
    num_seeds: seeds trained together.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  if num_seeds > 1 and config.parallel.mode != "none":
    raise errors.ConfigError(
        f"Seeds train together (vmapped) only with config.parallel.mode = 'none', not "
        f"{config.parallel.mode!r}; train them one by one instead.")


def check_devices(config) -> None:
  """The batch and the mode against the devices and processes present.

  Args:
    config: the run config.

  Raises:
    errors.ConfigError: naming the field and the fix.
  """
  devices, processes = jax.device_count(), jax.process_count()
  expected = config.parallel.num_devices
  if expected and expected != devices:
    raise errors.ConfigError(
        f"config.parallel.num_devices = {expected} but {devices} devices are "
        "present. Set it to 0 (use all) or run where the devices match.")
  batch, mode, m = config.train.batch_size, config.parallel.mode, config.critic_pack
  if mode != "none" and batch % (devices * m):
    raise errors.ConfigError(
        f"config.train.batch_size = {batch} does not divide over {devices} "
        f"devices in packs of config.critic_pack = {m}; use a multiple of {devices * m}.")
  if mode == "none" and processes > 1:
    raise errors.ConfigError(f"{processes} processes need config.parallel.mode = 'pmap'.")
  if mode == "mesh" and processes > 1:
    raise errors.ConfigError("config.parallel.mode = 'mesh' runs on one host; use "
                             "'pmap' for several hosts.")


def _first_copy(x):
  """The first local device's copy of a pmapped array (leading device axis),
  read from its shard: indexing the global array would gather."""
  return x.addressable_shards[0].data[0]


class Runner:
  """Compiles the train step for the config's parallel mode, n steps per
  call, and moves state and data to and from the devices."""

  def __init__(self, config, generator, critic, dataset, compute, num_seeds: int = 0):
    """Build the step (compiled on first call for each step count).

    Args:
      config: the run config.
      generator, critic: the model's modules.
      dataset: the training data.
      compute: the run's resolved fgan.compute.Compute.
      num_seeds: > 0: the state has a leading axis of that many seeds and
        the step is vmapped over it (mode "none" only).
    """
    self.mode = config.parallel.mode
    self._options = compute.compiler_options
    self._per_step = dataset.stream is not None  # streamed: each call's batches
    self._fns = {}
    if self.mode == "pmap":
      generator, critic = models.with_axis(generator, AXIS), models.with_axis(critic, AXIS)
      self._step = train.make_train_step(config, generator, critic, dataset, axis_name=AXIS)
    elif self.mode == "mesh":
      self.mesh = Mesh(np.asarray(jax.devices()), (AXIS,))
      self._replicated = NamedSharding(self.mesh, PartitionSpec())
      self._step = train.make_train_step(
          config, generator, critic, dataset,
          batch_sharding=NamedSharding(self.mesh, PartitionSpec(AXIS)))
    else:
      step = train.make_train_step(config, generator, critic, dataset)
      self._step = jax.vmap(step, in_axes=(0, None)) if num_seeds else step

  def compiled(self, num_steps: int):
    """The jitted or pmapped function (state, data) -> (state, metrics
    stacked over steps) that trains ``num_steps`` steps.

    Returns:
      The function.
    """
    if num_steps not in self._fns:
      many = train.multi_step(self._step, num_steps, self._per_step)
      if self.mode == "pmap":
        self._fns[num_steps] = jax.pmap(many, axis_name=AXIS)
      elif self.mode == "mesh":
        self._fns[num_steps] = jax.jit(many, out_shardings=self._replicated,
                                       compiler_options=self._options)
      else:
        self._fns[num_steps] = jax.jit(many, compiler_options=self._options)
    return self._fns[num_steps]

  def place(self, tree):
    """Host pytree -> device pytree for this mode (state or data); under
    pmap one copy per local device, stacked on a leading axis sharded over
    them.

    Args:
      tree: a host pytree.

    Returns:
      The device pytree.
    """
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
    device's (all hold the same).

    Args:
      tree: a device pytree.

    Returns:
      The host pytree.
    """
    if self.mode == "pmap":
      tree = jax.tree.map(_first_copy, tree)
    return jax.device_get(tree)

  def __call__(self, state, data, num_steps: int = 1):
    """Train ``num_steps`` steps.

    Args:
      state: the device state (``place``).
      data: the device data (``place``).
      num_steps: steps in this call.

    Returns:
      (new device state, metrics stacked over the steps, on the host's
      first device under pmap).
    """
    state, metrics = self.compiled(num_steps)(state, data)
    if self.mode == "pmap":
      metrics = jax.tree.map(_first_copy, metrics)
    return state, metrics

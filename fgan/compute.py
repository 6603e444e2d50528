"""How a run's numbers are computed, not which: the performance switches of
``config.compute``, resolved once per run for the backend and the number of
seeds trained together. They change speed (and float32 rounding, where a
form sums in another order), never the math, so a run resumes under other
values; the resolved values go into run.json.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax

from fgan import models

CONV_IMPLS = ("auto",) + models.CONV_IMPLS


@dataclasses.dataclass(frozen=True)
class Compute:
  """Resolved switches: conv_impl (fgan.models.CONV_IMPLS), steps_per_call
  (train steps per compiled call), compiler_options (XLA options of every
  compiled train program and of the Inception network, fgan.inception)."""
  conv_impl: str
  steps_per_call: int
  compiler_options: dict


def resolve(compute_config, num_seeds: int = 1) -> Compute:
  """The switches for this backend and seed count.

  conv_impl "auto" is "subpixel" for one seed and "matmul" for several
  vmapped together (under jax.vmap a convolution with per-seed kernels
  becomes a grouped one, which XLA runs slower than the batched matrix
  product); steps_per_call 0 is 1 on CPUs (XLA's CPU backend runs a scan
  around convolutions slowly) and 10 elsewhere.

  Args:
    compute_config: config.compute.
    num_seeds: seeds trained together.

  Returns:
    The resolved Compute.
  """
  impl = compute_config.conv_impl
  if impl == "auto":
    impl = "matmul" if num_seeds > 1 else "subpixel"
  k = compute_config.steps_per_call or (1 if jax.default_backend() == "cpu" else 10)
  return Compute(conv_impl=impl, steps_per_call=k, compiler_options=compiler_options())


@functools.cache
def compiler_options() -> dict:
  """XLA options for fgan's compiled programs on this backend.

  On CPUs, XLA's YNNPACK fusions off: its convolutions run slower than
  XLA's own (Eigen's) for the DCGAN step and the FID Inception network
  (experiments.benchmark measures both); the values agree to float32
  rounding (tests). An XLA without the option (jaxlib before 0.9) gets
  none. jax.pmap takes no options: a pmapped step keeps XLA's defaults.

  Returns:
    {option: value} for jax.jit's compiler_options.
  """
  if jax.default_backend() != "cpu":
    return {}
  options = {"xla_cpu_experimental_ynn_fusion_type": ""}
  try:
    jax.jit(lambda x: x + 1.0, compiler_options=options).lower(1.0).compile()
  except jax.errors.JaxRuntimeError:
    return {}
  return options


def device_memory_bytes() -> int:
  """This process's first device's memory: the accelerator's, else (CPU)
  the host's RAM.

  Returns:
    Bytes.
  """
  stats = jax.local_devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

"""What a number was computed with: package versions and the machine.

Every run (run.json), sweep table (results.json), benchmark and shipped
classifier records these, so that a figure can be traced to the software
and hardware that produced it (times and float rounding differ between CPU
types).
"""

from __future__ import annotations

import os
import platform
import sys

import jax
import numpy as np


def versions() -> dict:
  import flax, optax, orbax.checkpoint  # pylint: disable=import-outside-toplevel,multiple-imports
  return {"python": sys.version.split()[0], "jax": jax.__version__,
          "jaxlib": getattr(jax.lib, "__version__", None), "flax": flax.__version__,
          "optax": optax.__version__, "orbax": orbax.checkpoint.__version__,
          "numpy": np.__version__}


def cpu_model() -> str:
  """The CPU's model name (Linux's /proc/cpuinfo), else platform's guess."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def cpu_threads() -> int:
  """The CPUs this process may run on (its affinity: ``taskset`` narrows
  it), which sizes XLA's CPU thread pool. XLA splits a product's sums
  among those threads, so on a CPU the same run computes other float
  roundings with another count: a DCGAN step pinned to one core differs
  from the same step on two (RESULTS.md), a repeat with the same count
  does not."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return os.cpu_count() or 1


def machine() -> dict:
  """The CPU, its AVX-512 support (a 2x speed difference between machines
  of one kind here), the CPU threads this process may use, and JAX's
  backend and devices."""
  try:
    with open("/proc/cpuinfo") as f:
      avx512 = " avx512f " in f.read()
  except OSError:
    avx512 = None
  return {"cpu": cpu_model(), "avx512": avx512, "cpu_threads": cpu_threads(),
          "backend": jax.default_backend(),
          "devices": [d.device_kind for d in jax.devices()],
          "process_count": jax.process_count()}

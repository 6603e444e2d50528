"""What a number was computed with: package versions and the machine.

Every run (run.json), sweep table (results.json), benchmark and shipped
classifier records these, so that a figure can be traced to the software
and hardware that produced it (times and float rounding differ between CPU
types).
"""

from __future__ import annotations

import functools
import os
import pathlib
import platform
import subprocess
import sys

import jax
import numpy as np


@functools.cache
def commit() -> dict | None:
  """The git commit of the fgan source that runs: {"sha": HEAD, "dirty":
  whether tracked files differ from it}; None outside a git checkout (an
  installed wheel) or without git.

  Returns:
    The commit, or None.
  """
  root = pathlib.Path(__file__).resolve().parents[2]
  if not (root / ".git").exists():
    return None
  try:
    git = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True,
                                    text=True, timeout=30, check=True).stdout.strip()
    return {"sha": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
  except (OSError, subprocess.SubprocessError):
    return None


def versions() -> dict:
  """{package: version} of Python, jax, jaxlib, flax, optax, orbax, numpy.

  Returns:
    The versions.
  """
  import flax, optax, orbax.checkpoint  # pylint: disable=import-outside-toplevel,multiple-imports
  return {"python": sys.version.split()[0], "jax": jax.__version__,
          "jaxlib": getattr(jax.lib, "__version__", None), "flax": flax.__version__,
          "optax": optax.__version__, "orbax": orbax.checkpoint.__version__,
          "numpy": np.__version__}


def cpu_model() -> str:
  """The CPU's model name (Linux's /proc/cpuinfo), else platform's guess.

  Returns:
    The model name.
  """
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
  roundings with another count, while a repeat with the same count does
  not.

  Returns:
    The count.
  """
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return os.cpu_count() or 1


def machine() -> dict:
  """The CPU, its AVX-512 support (machines of one cloud kind differ in it,
  and in speed with it), the CPU threads this process may use, and JAX's
  backend and devices.

  Returns:
    {cpu, avx512, cpu_threads, backend, devices, process_count}.
  """
  try:
    with open("/proc/cpuinfo") as f:
      avx512 = " avx512f " in f.read()
  except OSError:
    avx512 = None
  return {"cpu": cpu_model(), "avx512": avx512, "cpu_threads": cpu_threads(),
          "backend": jax.default_backend(),
          "devices": [d.device_kind for d in jax.devices()],
          "process_count": jax.process_count()}

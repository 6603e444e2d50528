"""Shared fixtures and helpers: a private data cache per test session, small
run configs, data configs and a Fashion-MNIST IDX fixture."""

import atexit
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import types

import numpy as np
import pytest

# One XLA compilation cache for the session and the subprocesses it starts
# (they inherit the environment): many tests compile the same tiny programs,
# and a cached executable is the compiled one, so results are unchanged. Set
# before anything imports jax; fresh for every session, so a session's time
# is what CI's clean clone takes.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="fgan-xla-cache-")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository: cwd of subprocesses


@pytest.fixture(scope="session", autouse=True)
def _data_cache(tmp_path_factory):
  os.environ.setdefault("FGAN_DATA_DIR", str(tmp_path_factory.mktemp("fgan_data")))
  yield


_PYTHON_HANDLERS = {signal.SIGTERM: signal.getsignal(signal.SIGTERM),
                    signal.SIGINT: signal.getsignal(signal.SIGINT)}


@pytest.fixture(autouse=True)
def _fresh_signal_state():
  """Each test starts as a fresh process would: Python's own SIGTERM and
  SIGINT handlers and no recorded signal. An in-process import of
  experiments.cli installs fgan.signals' recorder for the rest of the
  process, and a test that signals itself would otherwise leave its signal
  recorded for every later test."""
  from fgan import signals
  for s, h in _PYTHON_HANDLERS.items():
    signal.signal(s, h)
  signals.received().clear()
  yield
  for s, h in _PYTHON_HANDLERS.items():
    signal.signal(s, h)
  signals.received().clear()


def signal_after_logging(monkeypatch, steps, signals=None):
  """Deliver ``signals[i]`` (default SIGTERM) to this process right after
  step ``steps[i]``'s metrics are written, as a user's Ctrl-C or a
  scheduler's SIGTERM would."""
  from fgan.rundir import writers
  pending = dict(zip(steps, signals or [signal.SIGTERM] * len(steps)))
  write = writers.MetricWriter.write
  def write_then_signal(self, step, metrics):
    write(self, step, metrics)
    if step in pending:
      os.kill(os.getpid(), pending.pop(step))
  monkeypatch.setattr(writers.MetricWriter, "write", write_then_signal)


# configs/ring8.py:js on the command line, without the held-out estimate
# (tests/test_evaluation.py checks it)
RING_JS = ["--config=configs/ring8.py:js", "--config.eval.estimate_steps=0"]


def toy_config(steps=40, **overrides):
  """A small, fast toy run config (ring of 8, MLP 2x64)."""
  from configs import base
  c = base.toy(base.get_base_config(), "ring8")
  c.model.hidden = (64, 64)
  c.train.num_steps = steps
  c.train.batch_size = 64
  c.train.log_every = 10
  c.eval.every_steps = 20
  c.eval.estimate_steps = 0  # no held-out estimate: a test that reads it sets its steps
  c.checkpoint.every_steps = 10
  return overridden(c, overrides)


def overridden(c, overrides: dict):
  """``c`` with each "section.field" of ``overrides`` set."""
  for k, v in overrides.items():
    section, _, key = k.rpartition(".")
    (c[section] if section else c)[key] = v
  return c


TFDS_FIXTURES = ROOT / "tests" / "data" / "tfds"  # tests/data/make_tfds_fixtures.py


def image_config(name="tfds:fgan_tiny", steps=20, **overrides):
  """A tiny DCGAN run (widths 8, batch 8) on one of the prepared TFDS
  fixtures in tests/data/tfds, 32x32 (fgan_tiny: cropped to 24, resized)."""
  from configs import base
  c = base.get_base_config()
  c.data.name = name
  c.data.tfds_data_dir = str(TFDS_FIXTURES)
  if name == "tfds:fgan_tiny":
    c.data.crop, c.data.resize = 24, 32
  c.model.width = c.model.critic_width = 8
  c.model.z_dim = 16
  c.train.num_steps = steps
  c.train.batch_size = 8
  c.train.log_every = 10
  c.eval.every_steps = steps
  c.eval.num_samples = 40
  c.eval.estimate_steps = 0
  c.checkpoint.every_steps = 10
  return overridden(c, overrides)


def data_config(**overrides):
  """The base config's data section with ``overrides``."""
  from configs import base
  c = base.get_base_config().data
  with c.unlocked():
    c.update(overrides)
  return c


def write_idx(path, array, magic_type=0x08):
  header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def fashion_fixture(directory, monkeypatch, n=12):
  """Fashion-MNIST's four IDX files with n random images and labels for
  each split, whose checksums fgan is told to expect; {file name: array}."""
  from fgan.data import sources
  rng = np.random.default_rng(0)
  files = {}
  for prefix in ("train", "t10k"):
    files[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 256, (n, 28, 28))
    files[f"{prefix}-labels-idx1-ubyte.gz"] = rng.integers(0, 10, (n,))
  sums = {}
  for name, arr in files.items():
    write_idx(directory / name, arr)
    sums[name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
  monkeypatch.setattr(sources, "FASHION_IDX_SHA256", dict(sources.FASHION_IDX_SHA256, **sums))
  return files


def final_state(config, workdir):
  """(step, state) of the newest checkpoint of the run ``config`` in workdir."""
  from fgan import data, models, train
  from fgan.rundir import checkpoint
  ds = data.load(config.data)
  g, d = models.build(config.model, ds.shape)
  ckpt = checkpoint.Checkpointer(workdir, 3)
  step, state = ckpt.restore(train.create_state(config, g, d, ds.shape))
  ckpt.close()
  return step, state


def comparable(records):
  """Metric records without their wall-clock rate: what reruns reproduce."""
  return [{k: v for k, v in r.items() if k != "steps_per_second"} for r in records]


def cli_many(module: str, invocations, env=None, timeout: float = 600) -> list:
  """The results (returncode, stdout, stderr, seconds) of ``python -m
  <module> <args>`` for each args list of ``invocations``, each in its own
  process, forked by tests/cli_server.py after the module's imports
  (seconds: that process's time from the fork to its exit)."""
  requests = "".join(json.dumps({"args": list(a), "cwd": str(ROOT), "env": env or {}}) + "\n"
                     for a in invocations)
  proc = subprocess.run([sys.executable, "-m", "tests.cli_server", module], input=requests,
                        capture_output=True, text=True, cwd=ROOT, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return [types.SimpleNamespace(**json.loads(line)) for line in proc.stdout.splitlines()]

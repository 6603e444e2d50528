"""Streaming a training set from the host: the same batches, runs and
resumes as in memory, each host its own rows, and less host memory."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from fgan import data
from fgan import loop
from fgan import train
from fgan.data import images as images_lib
from fgan.rundir import writers
from tests.conftest import ROOT
from tests.conftest import comparable
from tests.conftest import final_state
from tests.conftest import image_config
from tests.conftest import signal_after_logging

STREAMED = {"data.in_memory_max_mb": 0.01}  # the 24 images (72 KiB) exceed it


def _keys(seed, steps, n_critic):
  key = jax.random.PRNGKey(seed)
  return np.stack([np.asarray(train.real_batch_keys(key, t, n_critic)) for t in steps])


@pytest.mark.parametrize("shards", [1, 2])
def test_streamed_batches_equal_in_memory_batches_and_hosts_read_their_own_rows(shards):
  c = image_config(**{"data.flip": True, "data.shards": shards, **STREAMED}).data
  whole = data.load(c, whole=True)
  streamed = data.load(c)
  assert streamed.stream is not None and streamed.info["streamed"]
  assert whole.stream is None and not whole.info["streamed"]
  assert streamed.info["preprocessed_sha256"] == whole.info["preprocessed_sha256"]
  n, keys = 8, _keys(seed=5, steps=range(0, 40, 7), n_critic=2)
  rows = streamed.stream.batches(keys, n)
  hosts = [data.load(c, process_index=i, process_count=shards) for i in range(shards)]
  for s in range(keys.shape[0]):
    for u in range(keys.shape[1]):
      expected = np.asarray(whole.sample(whole.arrays, keys[s, u], n))
      got = streamed.sample({"batches": rows[s]}, keys[s, u], n, u)
      np.testing.assert_array_equal(np.asarray(got), expected)
      # Each host reads only its own group's rows, and draws its part of
      # the same global batch.
      parts = []
      for i, host in enumerate(hosts):
        idx = host.stream.indices(keys[s:s + 1, u:u + 1], n)
        size = len(host.stream.images) // shards
        assert idx.min() >= i * size and idx.max() < (i + 1) * size
        batches = host.stream.batches(keys[s:s + 1], n)
        parts.append(np.asarray(host.sample({"batches": batches[0]}, keys[s, u], n, u)))
      np.testing.assert_array_equal(np.concatenate(parts), expected)


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory):
  """A 50-step streamed run (flip, evaluation at 50, 5 steps per call)."""
  workdir = tmp_path_factory.mktemp("streamed")
  config = image_config(steps=50, **{"data.flip": True, "compute.steps_per_call": 5,
                                     **STREAMED})
  loop.run(config, workdir, progress=False)
  return config, workdir


def test_a_streamed_run_equals_the_in_memory_run(streamed_run, tmp_path):
  config, workdir = streamed_run
  assert json.loads((workdir / "data.json").read_text())["streamed"] is True
  in_memory = image_config(steps=50, **{"data.flip": True, "compute.steps_per_call": 5})
  loop.run(in_memory, tmp_path, progress=False)
  assert json.loads((tmp_path / "data.json").read_text())["streamed"] is False
  records = writers.read_metrics(workdir)
  assert len(records) == 5 and "eval/frechet_distance" in records[-1]
  assert comparable(records) == comparable(writers.read_metrics(tmp_path))
  streamed_state, memory_state = final_state(config, workdir), final_state(in_memory, tmp_path)
  for a, b in zip(jax.tree.leaves(streamed_state), jax.tree.leaves(memory_state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_streamed_run_stopped_by_sigterm_resumes_bitwise(streamed_run, tmp_path, monkeypatch):
  config, workdir = streamed_run
  signal_after_logging(monkeypatch, [20])
  with pytest.raises(loop.Preempted, match="saved checkpoint"):
    loop.run(config, tmp_path, progress=False)
  monkeypatch.undo()
  loop.run(config, tmp_path, progress=False)
  assert comparable(writers.read_metrics(tmp_path)) == comparable(writers.read_metrics(workdir))
  for a, b in zip(jax.tree.leaves(final_state(config, tmp_path)),
                  jax.tree.leaves(final_state(config, workdir))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_streamed_seeds_are_not_vmapped():
  config = image_config(**STREAMED)
  with pytest.raises(loop.errors.ConfigError, match="streamed seeds train one by one"):
    loop.Setup.create(config, (0, 1))


_PEAK = """
import json, sys
from fgan import loop
from tests.conftest import overridden
from configs import base
c = base.get_base_config()
overridden(c, {"data.resize": 64, "model.width": 8, "model.critic_width": 8,
               "model.generator_extra_convs": 0, "model.critic_extra_convs": 0,
               "train.num_steps": 4, "train.batch_size": 16, "train.log_every": 2,
               "eval.metrics": False, "eval.estimate_steps": 0, "eval.every_steps": 4,
               "checkpoint.every_steps": 4, "data.in_memory_max_mb": float(sys.argv[2])})
loop.run(c, sys.argv[1], progress=False)
# VmHWM: this process image's peak (ru_maxrss would include the forking
# parent's resident memory before exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"peak_kib": int(hwm.split()[1])}))
"""


@pytest.mark.slow
def test_a_set_larger_than_the_budget_streams_without_being_loaded(tmp_path):
  """MNIST resized to 64x64 (60,000 x 4 KiB = 234 MiB) trained 4 steps with
  a 16 MiB budget and with the default (a quarter of the memory: it fits):
  the streamed process's peak resident memory stays below the in-memory
  one's by most of the set's size."""
  c = image_config().data
  c.name, c.tfds_data_dir, c.crop, c.resize = "mnist", "", 0, 64
  set_bytes = images_lib.load_split(c, "train", whole=False)[0].nbytes  # builds the cache
  peaks = {}
  for budget in (16.0, 0.0):
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(tmp_path / str(budget)), str(budget)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    peaks[budget] = json.loads(proc.stdout.splitlines()[-1])["peak_kib"] * 1024
    streamed = json.loads((tmp_path / str(budget) / "data.json").read_text())["streamed"]
    assert streamed == (budget == 16.0)
  print(f"peak resident memory: streamed {peaks[16.0] / 2**20:.0f} MiB, in memory "
        f"{peaks[0.0] / 2**20:.0f} MiB; the set {set_bytes / 2**20:.0f} MiB")
  assert peaks[0.0] - peaks[16.0] > 0.8 * set_bytes

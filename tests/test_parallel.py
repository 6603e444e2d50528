"""Data-parallel and multi-process training agree with one device.

Each run is a real subprocess: 8 simulated CPU devices via XLA_FLAGS, or two
processes joined by jax.distributed on localhost with gloo collectives.
"""

import json
import socket
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from fgan.rundir import checkpoint
from fgan import data
from fgan import models
from fgan import parallel
from fgan import train
from tests.conftest import ROOT

# A DCGAN with batch norm in both networks, so synchronised statistics matter.
# Kept small: Adam's first steps move each parameter by about +-lr whatever the
# gradient's size, so a gradient that is ~0 can flip sign under the different
# summation order of 8 devices and move that parameter by 2 lr (seen with a
# 64-wide critic: generator weights off by up to 2e-4 after one step). With
# these sizes and learning rates (2e-4) no gradient is that degenerate and the
# runs agree within 1e-6. The main job's two extra 3x3 layers per network are
# left out: with them at width 8, one of 50,176 generator weights of the
# 8-device run was 2e-5 off one device's after 8 steps.
ARGS = ["--config=configs/js_mnist.py", "--config.model.width=8",
        "--config.model.critic_width=8", "--config.model.generator_extra_convs=0",
        "--config.model.critic_extra_convs=0",
        "--config.model.critic_norm=batch", "--config.train.batch_size=32",
        "--config.train.log_every=2", "--config.eval.every_steps=1000",
        "--config.eval.metrics=False",
        "--config.checkpoint.every_steps=4", "--config.data.shards=2",
        "--config.optim.critic.learning_rate=2e-4", "--config.optim.generator.learning_rate=2e-4"]


def _run(workdir, *args, devices=1, extra_env=None, wait=True):
  env = parallel.simulated_devices_env(devices, **(extra_env or {}))
  cmd = [sys.executable, "-m", "experiments.run", *ARGS, *args, f"--workdir={workdir}"]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  if not wait:
    return proc
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return out


def _params(workdir, step):
  c = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  ds = data.load(c.data)
  g, d = models.build(c.model, ds.shape)
  ckpt = checkpoint.Checkpointer(workdir, 10)
  state = ckpt.restore_step(step, train.create_state(c, g, d, ds.shape))
  ckpt.close()
  return state


def _assert_close(a, b, tol=1e-5):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("single")
  _run(workdir, "--config.train.num_steps=8")
  return workdir


@pytest.mark.slow
def test_eight_devices_under_a_mesh_equal_one_device(single, tmp_path):
  _run(tmp_path, "--config.train.num_steps=8", "--config.parallel.mode=mesh",
       "--config.parallel.num_devices=8", devices=8)
  _assert_close(_params(tmp_path, 8), _params(single, 8))


@pytest.mark.slow
def test_eight_devices_under_pmap_equal_one_device_and_resume_on_one(single, tmp_path):
  _run(tmp_path, "--config.train.num_steps=4", "--config.parallel.mode=pmap",
       "--config.parallel.num_devices=8", devices=8)
  _assert_close(_params(tmp_path, 4), _params(single, 4))
  out = _run(tmp_path, "--config.train.num_steps=8")
  assert "resuming from checkpoint 4" in out
  _assert_close(_params(tmp_path, 8), _params(single, 8))


def _two_processes(workdir, *args):
  """Both processes' (returncode, stderr), joined through a fresh local port."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  procs = [_run(workdir, "--config.train.num_steps=8", "--config.parallel.mode=pmap", *args,
                devices=2, wait=False,
                extra_env={"FGAN_COORDINATOR": f"127.0.0.1:{port}",
                           "FGAN_NUM_PROCESSES": "2", "FGAN_PROCESS_ID": str(i)})
           for i in range(2)]
  errs = [p.communicate(timeout=600)[1] for p in procs]
  return [(p.returncode, err) for p, err in zip(procs, errs)]


def _two_processes_equal_one(single, tmp_path, *args):
  results = _two_processes(tmp_path / "a", *args)
  if any(code for code, _ in results):  # the free port may be taken meanwhile
    print("first attempt failed:", [err[-2000:] for _, err in results])
    results = _two_processes(tmp_path / "b", *args)
  for code, err in results:
    assert code == 0, err[-3000:]
  workdir = tmp_path / ("b" if (tmp_path / "b").exists() else "a")
  # Gloo's cross-process reductions need not sum in the single-process order;
  # the tolerance allows that rounding (Adam rescales tiny gradients).
  _assert_close(_params(workdir, 8), _params(single, 8), tol=1e-4)
  return workdir


@pytest.mark.slow
def test_two_processes_with_jax_distributed_equal_one(single, tmp_path):
  _two_processes_equal_one(single, tmp_path)


@pytest.mark.slow
def test_two_processes_streaming_their_own_rows_equal_one_in_memory(single, tmp_path):
  """Each process streams its shard of MNIST (47 MB, over a 1 MiB budget):
  the rows it reads are its group's (tests/test_stream.py checks the
  indices), and together they train as one process holding the whole set."""
  workdir = _two_processes_equal_one(single, tmp_path, "--config.data.in_memory_max_mb=1")
  recorded = json.loads((workdir / "data.json").read_text())
  assert recorded["streamed"] is True and recorded["host_groups"] == [0, 1]


def test_batch_not_divisible_by_devices_is_an_error(tmp_path):
  env = parallel.simulated_devices_env(8)
  out = subprocess.run([sys.executable, "-m", "experiments.run", *ARGS,
                        "--config.train.batch_size=36", "--config.data.shards=1",
                        "--config.parallel.mode=pmap", f"--workdir={tmp_path}"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2 and "does not divide over 8 devices" in out.stderr
  out = subprocess.run([sys.executable, "-m", "experiments.run", *ARGS,
                        "--config.train.batch_size=40", "--config.critic_pack=2",
                        "--config.data.shards=1", "--config.parallel.mode=pmap",
                        f"--workdir={tmp_path}"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2 and "packs of config.critic_pack = 2" in out.stderr
  assert "use a multiple of 16" in out.stderr and not (tmp_path / "config.json").exists()
  out = subprocess.run([sys.executable, "-m", "experiments.run", *ARGS,
                        "--config.parallel.num_devices=4", f"--workdir={tmp_path}"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2 and "8 devices are present" in out.stderr


@pytest.mark.slow
def test_one_step_equals_one_device_for_every_penalty_and_device_count(tmp_path):
  """Each divergence family and each gradient penalty kind with the output
  penalty, and packing (one_step_matrix.COMBINATIONS), under pmap and mesh
  on 8 devices (SNGAN's image families: pmap on 2, mesh on 8), each as
  one_step_matrix.runs says: one step's parameters and metrics equal those of
  the step on 1 device (every random draw is made for the global batch;
  pmap once drew WGAN-GP's interpolation weights per device)."""
  from tests import one_step_matrix
  runs = {1: ["none"], 2: ["pmap"], 8: ["pmap", "mesh"]}
  results = {}
  # In turn: the later processes find the networks' initialisation compiled
  # in the session's XLA cache.
  for devices, modes in runs.items():
    env = parallel.simulated_devices_env(devices)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.one_step_matrix", str(tmp_path / f"{devices}.npz"), *modes],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results[devices] = dict(np.load(tmp_path / f"{devices}.npz"))
  for combination in one_step_matrix.COMBINATIONS:
    reference = one_step_matrix.key(*combination, "none")
    for devices, modes in runs.items():
      for mode in [m for m in modes if one_step_matrix.runs(combination, devices, m)]:
        got = one_step_matrix.key(*combination, mode)
        # The image networks' convolutions and spectral norm's sigma are
        # sums over thousands of terms, whose order differs with the device
        # count: relative 1e-4 there, 1e-5 for the MLP.
        rtol = 1e-5 if combination[0] == "mlp" else 1e-4
        for part in ("params", "metrics"):
          np.testing.assert_allclose(results[devices][f"{got}/{part}"],
                                     results[1][f"{reference}/{part}"], rtol=rtol, atol=1e-6,
                                     err_msg=f"{got} on {devices} devices: {part}")

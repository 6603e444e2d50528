"""Exact resume: a run stopped by signals at arbitrary steps, and a run
whose state the host reads after every step, end bitwise equal to an
uninterrupted run (on the same machine)."""

import random
import signal

import jax
import numpy as np
import pytest

from configs import base
from fgan import loop
from fgan.rundir import writers
from tests.conftest import comparable
from tests.conftest import toy_config
from tests.conftest import final_state
from tests.conftest import signal_after_logging


def _train_with_stops(config, workdir, monkeypatch, steps):
  sigs = [(signal.SIGTERM, signal.SIGINT)[i % 2] for i in range(len(steps))]
  signal_after_logging(monkeypatch, steps, sigs)
  for _ in steps:
    with pytest.raises(loop.Preempted):
      loop.run(config, workdir, progress=False)
  loop.run(config, workdir, progress=False)
  monkeypatch.undo()


def _assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _records(workdir):
  return comparable(writers.read_metrics(workdir))


def _toy():
  return toy_config(100, **{"train.log_every": 1, "checkpoint.every_steps": 25,
                            "eval.every_steps": 50})


def _dcgan():
  c = base.get_base_config()
  c.model.width = c.model.critic_width = 8
  c.train.num_steps, c.train.batch_size, c.train.log_every = 60, 16, 1
  c.checkpoint.every_steps, c.eval.every_steps, c.eval.metrics = 20, 30, False
  return c


def _dcgan_spectral():
  c = _dcgan()
  c.model.critic_norm = "spectral"
  return c


@pytest.mark.parametrize("make,stops", [(_toy, 5), (_dcgan, 3), (_dcgan_spectral, 2)],
                         ids=["toy", "dcgan", "spectral"])
def test_signals_at_random_steps_resume_to_the_uninterrupted_run(tmp_path, monkeypatch, make,
                                                                 stops):
  c = make()
  # Steps 3 apart: a signal may be honoured a step late (after the next
  # step, when the state was not on the host), and the resumed run starts
  # after the step that was saved.
  steps = sorted(random.Random(stops).sample(range(2, c.train.num_steps - 2, 3), stops))
  _train_with_stops(c, tmp_path / "stopped", monkeypatch, steps)
  loop.run(c, tmp_path / "straight", progress=False)
  (sa, a), (sb, b) = (final_state(c, tmp_path / w) for w in ("stopped", "straight"))
  assert sa == sb == c.train.num_steps
  _assert_bitwise_equal(a, b)
  if c.model.get("critic_norm") == "spectral":  # u and v are in the checkpoint
    assert set(a.d_params) == {"params", "spectral"}
  assert _records(tmp_path / "stopped") == _records(tmp_path / "straight")


def test_host_reads_after_every_step_change_nothing(tmp_path):
  # checkpoint.every_steps = 1 copies the state to the host after every step.
  c = _dcgan()
  loop.run(c, tmp_path / "rare", progress=False)
  c.checkpoint.every_steps = 1
  loop.run(c, tmp_path / "every", progress=False)
  _assert_bitwise_equal(final_state(c, tmp_path / "rare")[1], final_state(c, tmp_path / "every")[1])

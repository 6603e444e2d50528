"""The benchmark's fgan timer and FLOP count, and its forked peer process,
without PyTorch."""

import os

import pytest

from experiments import benchmark


def _toy(batch):
  c = benchmark.toy_config((32, 32))
  c.train.batch_size = batch
  return c


def test_timer_runs_the_train_step_and_counts_its_flops():
  small, large = benchmark.train_timer(_toy(64)), benchmark.train_timer(_toy(128), 2)
  assert small(0.0) > 0 and large(0.0) > 0  # at least min_iterations calls each
  assert small.info["steps_per_call"] == 1  # automatic on CPU
  # The step's matrix products grow with the batch and the seeds, Adam's
  # updates only with the seeds: 2 seeds at twice the batch ~ 4x the work.
  ratio = large.info["gflop_per_iteration"] / small.info["gflop_per_iteration"]
  assert 3.5 < ratio < 4.1, ratio


def test_budget_section_times_every_mnist_config_by_default():
  names = benchmark.mnist_configs()
  assert names[0] == "js_mnist" and "mnist:wgan_gp" in names and len(names) == 11
  configs = [benchmark.load_config(n) for n in names]
  assert configs[0].model.generator_extra_convs == 2 and configs[-1].divergence == "wasserstein"


def test_forked_timers_run_in_another_process_and_report_its_failure():
  """The peer's timers are made and run in a child process (os.getpid()
  there is not ours), each call answered in turn; a failure to make them is
  a RuntimeError carrying the child's traceback."""
  calls = []
  timers = benchmark.forked(lambda: {"pid": lambda seconds: float(os.getpid()) + seconds,
                                     "calls": lambda seconds: float(len(calls.append(1) or calls))})
  assert sorted(timers) == ["calls", "pid"]
  child = timers["pid"](0.0)
  assert child != os.getpid() and timers["pid"](0.5) == child + 0.5
  assert [timers["calls"](0.0) for _ in range(3)] == [1.0, 2.0, 3.0] and not calls
  with pytest.raises(RuntimeError, match="ZeroDivisionError"):
    benchmark.forked(lambda: {"x": 1 / 0})

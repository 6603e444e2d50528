"""The host loop of one run, or of several seeds trained together: set up,
train, and at their intervals log, evaluate and checkpoint; then finish.

Everything that can be checked is checked before any file is touched: the
config, the devices, the data, the models and every work directory's state;
only then are the directories locked, a replaced run moved aside and the
identity files written (fgan.rundir.workdir). Rerunning the same command
resumes from the newest readable checkpoint; a finished run says so and
does not train again (its summary is rebuilt from its files if it is
missing). SIGTERM or SIGINT (fgan.signals) stops the run at the next step
with a checkpoint, or during set-up before anything is written.

Each compiled call trains up to compute.steps_per_call steps and never
crosses a step at which something is due (a log record, an evaluation, a
checkpoint, the end), so every run ends at exactly train.num_steps and
writes the same records whatever steps_per_call is.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from fgan import compute as compute_lib
from fgan import data
from fgan import errors
from fgan import evaluation
from fgan import models
from fgan import parallel
from fgan import signals
from fgan import train
from fgan import validation
from fgan.rundir import checkpoint
from fgan.rundir import grids
from fgan.rundir import provenance
from fgan.rundir import workdir as workdir_lib
from fgan.rundir import writers

NonFiniteError, Preempted = errors.NonFiniteError, errors.Preempted


def run(config, workdir, overwrite: bool = False, progress: bool = True) -> dict:
  """Train (or resume) one run.

  Args:
    config: the run config.
    workdir: its work directory.
    overwrite: move aside a run of another config found there.
    progress: show a progress bar.

  Returns:
    The run's summary (summary.json).

  Raises:
    errors.FganError: bad input, a directory in use, non-finite numbers, a
      signal (Preempted), a failed write.
  """
  return run_seeds(config, [config.seed], [workdir], overwrite, progress)[0]


def run_seeds(config, seeds, workdirs, overwrite: bool = False,
              progress: bool = True) -> list[dict]:
  """Train (or resume) runs of ``config`` that differ only in their seed,
  each in its own work directory.

  Several seeds train together in one compiled program: the pure train
  step vmapped over a leading seed axis of the state (batch draws, latents
  and initial parameters all derive from each run's own seed, so every
  run's numbers are those it gets alone, up to float rounding of batched
  matrix products). Every member must resume from the same step
  (fgan.studies.sweep groups members by their checkpoints).

  Args:
    config: the runs' config (its seed is replaced by each of ``seeds``).
    seeds: distinct seeds.
    workdirs: one work directory per seed.
    overwrite: move aside runs of another config found there.
    progress: show a progress bar.

  Returns:
    The runs' summaries, in the order of ``seeds``.

  Raises:
    errors.FganError: as ``run``.
  """
  with signals.catching():
    setup = Setup.create(config, seeds)
    group = SeedGroup(setup, workdirs, overwrite)
    try:
      if group.finished():
        return group.summaries_on_disk()
      signals.raise_if_received()
      if group.start < config.train.num_steps:
        _train(setup, group, progress)
      else:  # stopped between its last checkpoint and its summary
        group.complete_records()
      return group.finish()
    finally:
      group.close()


@dataclasses.dataclass(frozen=True)
class Setup:
  """What a run needs before it touches a file.

  Attributes:
    config: the validated config.
    seeds: the seeds trained together.
    dataset: the training data.
    generator, critic: the model's modules (built once, by name).
    compute: the resolved compute switches.
  """
  config: object
  seeds: tuple
  dataset: data.Dataset
  generator: object
  critic: object
  compute: compute_lib.Compute

  @classmethod
  def create(cls, config, seeds) -> "Setup":
    """Validate the config, load the data, build the models.

    Args:
      config: the run config.
      seeds: the seeds to train together.

    Returns:
      The Setup.

    Raises:
      errors.ConfigError, errors.DataUnavailableError, errors.Preempted.
    """
    if len(set(seeds)) != len(seeds) or not seeds:
      raise errors.ConfigError(f"run_seeds needs distinct seeds; got {list(seeds)}.")
    validation.validate(config, len(seeds))
    validation.validate_placement(config)
    signals.raise_if_received()
    dataset = data.load(config.data, "train", jax.process_index(), jax.process_count())
    models.check_data(config.model, dataset.shape)
    resolved = compute_lib.resolve(config.compute, len(seeds))
    generator, critic = models.build(config.model, dataset.shape, resolved.conv_impl)
    validation.validate_with_data(config, dataset, generator, critic)
    if dataset.stream is not None and len(seeds) > 1:
      raise errors.ConfigError(
          f"The training set of {config.data.name!r} streams from the host (it exceeds "
          "config.data.in_memory_max_mb), and streamed seeds train one by one: set "
          "vmap_seeds = False, or raise the budget.")
    signals.raise_if_received()
    return cls(config, tuple(int(s) for s in seeds), dataset, generator, critic, resolved)

  @property
  def grouped(self) -> bool:
    """Whether several seeds train together (the state has a seed axis)."""
    return len(self.seeds) > 1


def _next_stop(config, step: int) -> int:
  """The first step after ``step`` at which something is due: a log
  record, an evaluation, a checkpoint or the end."""
  t = config.train
  everies = (t.log_every, config.eval.every_steps, config.checkpoint.every_steps)
  return min([t.num_steps] + [(step // e + 1) * e for e in everies])


def schedule(config, start: int, steps_per_call: int) -> list[tuple[int, int]]:
  """The run's compiled calls from ``start``: (first step, steps) of each,
  never crossing a step at which something is due.

  Args:
    config: the run config.
    start: the step the run resumes from.
    steps_per_call: the resolved compute.steps_per_call.

  Returns:
    The calls, in order, ending at train.num_steps.
  """
  calls, step = [], start
  while step < config.train.num_steps:
    n = min(steps_per_call, _next_stop(config, step) - step)
    calls.append((step, n))
    step += n
  return calls


def data_feed(config, dataset, seed: int, runner, calls):
  """Each compiled call's device data: a dataset in memory is placed once
  and handed to every call; a streamed one's batches of each call are read
  on the host ahead of the step (fgan.data.stream).

  Args:
    config: the run config.
    dataset: its training data (fgan.data.Dataset).
    seed: the run's seed (a streamed dataset: one seed per run).
    runner: the fgan.parallel.Runner that places the data.
    calls: the calls, (first step, steps) each (``schedule``).

  Returns:
    An iterator of one device pytree per call.
  """
  if dataset.stream is None:
    arrays = runner.place(dataset.arrays)
    return (arrays for _ in calls)
  key, n_critic = jax.random.PRNGKey(seed), config.train.n_critic
  keys = jax.jit(jax.vmap(lambda t: train.real_batch_keys(key, t, n_critic)))
  cpu = jax.local_devices(backend="cpu")[0]

  def keys_of(first: int, n: int) -> np.ndarray:
    with jax.default_device(cpu):
      return np.asarray(keys(jnp.arange(first, first + n)))
  feed = dataset.stream.feed(calls, keys_of, config.train.batch_size)
  return (runner.place(data) for data in feed)


@dataclasses.dataclass(frozen=True)
class _Due:
  """What the step just reached calls for: a log record, an evaluation (and
  sample grid), a checkpoint; everything at the end."""
  log: bool
  eval: bool
  checkpoint: bool

  @classmethod
  def at(cls, config, step: int) -> "_Due":
    last = step >= config.train.num_steps
    hit = lambda every: step % every == 0 or last
    return cls(hit(config.train.log_every), hit(config.eval.every_steps),
               hit(config.checkpoint.every_steps))


def _train(setup: Setup, group: "SeedGroup", progress: bool) -> None:
  """The training loop: one compiled call per iteration, up to the next
  step at which something is due; logs, evaluations and checkpoints when
  due; a signal stops it with a checkpoint."""
  config, received = setup.config, signals.received()
  runner = parallel.Runner(config, setup.generator, setup.critic, setup.dataset,
                           setup.compute, num_seeds=len(setup.seeds) if setup.grouped else 0)
  device_state = runner.place(group.stacked_state())
  calls = schedule(config, group.start, setup.compute.steps_per_call)
  clock = group.clock
  bar = tqdm(total=config.train.num_steps, initial=group.start, disable=not progress,
             dynamic_ncols=True, desc=config.divergence + (
                 f" x{len(setup.seeds)} seeds" if setup.grouped else ""))
  try:
    feed = data_feed(config, setup.dataset, setup.seeds[0], runner, calls)
    for (first, n), device_data in zip(calls, feed):
      device_state, metrics = runner(device_state, device_data, n)
      step = first + n
      clock.first_call_done(device_state)
      bar.update(n)
      # Read once: a signal arriving after the sync below waits for the next
      # step, since the members' host states are fresh only right after a sync.
      stop, due = bool(received), _Due.at(config, step)
      records = [{} for _ in group.members]
      if due.log:
        records = group.records(jax.device_get(metrics), runner.host(
            (device_state.nonfinite_steps, device_state.first_nonfinite_step)), clock.rate(step))
        bar.set_postfix(group.progress_postfix(records), refresh=False)
      if due.eval or due.checkpoint or stop:
        group.sync(runner.host(device_state))
      if due.eval:
        group.evaluate(step, records)
      group.write(step, records)
      if due.checkpoint or stop:
        group.save(step)
      if stop:
        raise Preempted(f"fgan: signal {received[0]} received; saved checkpoint {step} in "
                        f"{group.where()}. Rerun the same command to resume.")
  finally:
    bar.close()


class _Clock:
  """Wall-clock figures of a session: time to the first compiled call's
  result and steps per second between log records."""

  def __init__(self, start_step: int):
    self.t_start = time.time()
    self.first_step_s = None
    self._last = (start_step, self.t_start)

  def first_call_done(self, device_state) -> None:
    if self.first_step_s is None:
      jax.block_until_ready(device_state)
      self.first_step_s = time.time() - self.t_start

  def rate(self, step: int) -> float:
    now = time.time()
    rate = (step - self._last[0]) / (now - self._last[1])
    self._last = (step, now)
    return rate


class SeedRun:
  """One run of a group: its seed, work directory, checkpoints, records.

  Attributes:
    config: the run's config (with its seed).
    seed: its seed.
    dir: its WorkDir.
    state: its host copy of the train state (fresh after a sync).
    restored_step: the checkpoint it resumed from, or None.
    final_record, final_eval: its last training record and evaluation.
  """

  def __init__(self, setup: Setup, seed: int, path, overwrite: bool):
    """Inspect the work directory (no side effects).

    Args:
      setup: the group's Setup.
      seed: this run's seed.
      path: its work directory.
      overwrite: a run of another config there may be moved aside.
    """
    self.config = setup.config.copy_and_resolve_references()
    with self.config.unlocked():
      self.config.seed = int(seed)
    self.seed = int(seed)
    self.dir = workdir_lib.WorkDir(path, self.config.to_dict())
    self.plan = self.dir.plan(overwrite)
    self.state = self.restored_step = self.ckpt = self.writer = None
    self.final_record, self.final_eval = {}, {}
    self.z_grid = jax.random.normal(train.stream_key(seed, "sample_grid"),
                                    (self.config.eval.grid_size ** 2, self.config.model.z_dim))

  def open(self, setup: Setup, is_chief: bool) -> None:
    """Claim the directory, write the identity files, restore the newest
    checkpoint.

    Args:
      setup: the group's Setup.
      is_chief: this process writes the files (process 0).
    """
    if is_chief:
      self.dir.lock()
    self.dir.prepare(self.plan)
    state = train.create_state(self.config, setup.generator, setup.critic, setup.dataset.shape)
    self.dir.check_free_space(sum(x.nbytes for x in jax.tree.leaves(state)),
                              self.config.checkpoint.keep)
    if is_chief:
      p = self.dir.path
      workdir_lib.write_json(p / "config.json", self.config.to_dict())
      workdir_lib.write_json(p / "data.json", setup.dataset.info)
      workdir_lib.write_json(p / "run.json", {
          "seed": self.seed, "commit": provenance.commit(),
          "versions": provenance.versions(), "command": sys.argv,
          "machine": provenance.machine(), "devices": [str(d) for d in jax.devices()],
          "compute": dataclasses.asdict(setup.compute)})
    self.ckpt = checkpoint.Checkpointer(self.dir.path, self.config.checkpoint.keep)
    self.restored_step, self.state = self.ckpt.restore(state)
    self.writer = writers.MetricWriter(self.dir.path, enabled=is_chief)

  def summary_on_disk(self) -> dict | None:
    """The run's summary.json if it is complete (readable, with its last
    training record where the run logged one), else None.

    Returns:
      The summary, or None.
    """
    try:
      summary = json.loads((self.dir.path / "summary.json").read_text())
    except (OSError, ValueError):
      return None
    logged = any("critic_loss" in r for r in writers.read_metrics(self.dir.path, torn_ok=True))
    complete = isinstance(summary, dict) and (summary.get("final_metrics") or not logged)
    return summary if complete else None

  def finished(self) -> bool:
    """Trained to the end, with a complete summary.

    Returns:
      Whether it is finished.
    """
    return (int(self.restored_step or 0) >= self.config.train.num_steps
            and self.summary_on_disk() is not None)


class SeedGroup:
  """The runs of a group, one seed or several trained together, behind one
  interface: the state stacked on a leading seed axis when there are
  several, per-run views of it, and the periodic actions for all.

  Attributes:
    members: the SeedRuns.
    start: the step they resume from.
    clock: this session's wall-clock figures.
  """

  def __init__(self, setup: Setup, workdirs, overwrite: bool):
    """Inspect every work directory, then claim them, write the identity
    files and restore the checkpoints.

    Args:
      setup: the group's Setup.
      workdirs: one work directory per seed.
      overwrite: runs of another config there may be moved aside.

    Raises:
      errors.ConfigError, errors.WorkdirError: a directory cannot take its
        run, or the runs resume from different steps.
    """
    if len(workdirs) != len(setup.seeds):
      raise errors.ConfigError(f"run_seeds needs one work directory per seed; got "
                               f"{len(workdirs)} for seeds {list(setup.seeds)}.")
    self.setup, self.is_chief = setup, jax.process_index() == 0
    self.members = [SeedRun(setup, s, w, overwrite) for s, w in zip(setup.seeds, workdirs)]
    signals.raise_if_received()
    self._opened = []
    try:
      for m in self.members:  # every plan made (and checked) before anything is claimed
        m.open(setup, self.is_chief)
        self._opened.append(m)
      starts = {int(m.restored_step or 0) for m in self.members}
      if len(starts) > 1:
        raise errors.ConfigError(
            "Runs trained together must resume from the same step, but their "
            f"checkpoints are at steps {sorted(starts)}; train them one by one.")
    except BaseException:
      self.close()
      raise
    self.start = starts.pop()
    self.clock = _Clock(self.start)
    self._evaluators = {}
    ds = setup.dataset
    self._sample_fn = jax.jit(lambda p, z: train.generate(setup.generator, p, z, ds.shape))
    self._reference = (np.asarray(ds.sample({}, jax.random.PRNGKey(0), 2000))
                       if ds.kind == "toy" else None)

  def close(self) -> None:
    """Close every opened run's writer and checkpointer and release its
    lock."""
    for m in self._opened:
      try:
        m.writer.close()
      finally:
        m.ckpt.close()
        m.dir.unlock()
    self._opened = []

  def where(self) -> str:
    """The members' work directories, comma-separated.

    Returns:
      The text.
    """
    return ", ".join(str(m.dir.path) for m in self.members)

  def finished(self) -> bool:
    """Whether every member is finished (said); otherwise prepare to resume
    (said, and records past the checkpoint dropped).

    Returns:
      Whether all are finished.
    """
    if all(m.finished() for m in self.members):
      for m in self.members:
        print(f"fgan: run in {m.dir.path} already finished at step {self.start}; nothing to do.")
      return True
    if self.start:
      print(f"fgan: resuming from checkpoint {self.start} in {self.where()}")
    for m in self.members:
      m.writer.truncate_after(self.start)
    return False

  def summaries_on_disk(self) -> list[dict]:
    """The members' summary.json contents.

    Returns:
      One summary per member.
    """
    return [m.summary_on_disk() for m in self.members]

  def _split(self, tree) -> list:
    """Per-member views of a tree that has a leading seed axis if grouped."""
    if not self.setup.grouped:
      return [tree]
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(len(self.members))]

  def stacked_state(self):
    """The members' states, stacked on a seed axis if grouped.

    Returns:
      The host state.
    """
    states = [m.state for m in self.members]
    return jax.tree.map(lambda *xs: np.stack(xs), *states) if self.setup.grouped else states[0]

  def sync(self, host_state) -> None:
    """Set the members' host copies of the state (for evaluation and
    checkpoints) from the group's.

    Args:
      host_state: the group's host state (a seed axis if grouped).
    """
    for m, state in zip(self.members, self._split(host_state)):
      m.state = state

  def records(self, host_metrics, nonfinite, rate: float) -> list[dict]:
    """Each member's log record of the last step.

    Args:
      host_metrics: the call's metrics, stacked over its steps.
      nonfinite: (rejected steps, first rejected step), per member.
      rate: steps per second since the last record.

    Returns:
      One record per member.

    Raises:
      errors.NonFiniteError: a member rejected a step and stops on it.
    """
    out = []
    last = jax.tree.map(lambda v: v[-1], host_metrics)  # the call's last step
    for m, metrics, (bad, first) in zip(self.members, self._split(last),
                                        self._split(nonfinite)):
      if int(bad) and m.config.train.on_nonfinite == "stop":
        raise NonFiniteError(_nonfinite_message(int(first), m.ckpt))
      record = {name: float(v) for name, v in metrics.items()}
      record["nonfinite_steps"], record["steps_per_second"] = int(bad), rate
      m.final_record = dict(record)
      out.append(record)
    return out

  def progress_postfix(self, records) -> dict:
    """The progress bar's losses and F of the first member.

    Args:
      records: the members' last records.

    Returns:
      {short name: formatted value}.
    """
    r = records[0]
    return {"d": f"{r['critic_loss']:.3f}", "g": f"{r['generator_loss']:.3f}",
            "F": f"{r['divergence_estimate']:.3f}"}

  def evaluate(self, step: int, records) -> None:
    """Each member's sample grid and (eval.metrics) evaluation, put into
    its record; at the end also the held-out divergence estimates.

    Args:
      step: the step reached.
      records: the members' records of this step, updated in place.
    """
    for m, record in zip(self.members, records):
      self._evaluate_one(m, step, record)

  def complete_records(self) -> None:
    """For runs stopped after their last checkpoint, before their summary:
    the last training record and evaluation from metrics.jsonl, or, where
    the final record is missing, the final evaluation now."""
    end = self.setup.config.train.num_steps
    missing = []
    for m in self.members:
      records = writers.read_metrics(m.dir.path, torn_ok=True)
      final = next((r for r in reversed(records) if r["step"] == end), None)
      trained = [r for r in records if "critic_loss" in r]
      if trained:
        m.final_record = {k: v for k, v in trained[-1].items()
                          if k != "step" and not k.startswith("eval/")}
      if final is None:
        missing.append(m)
      else:
        m.final_eval = {k[len("eval/"):]: v for k, v in final.items() if k.startswith("eval/")}
    for m in missing:  # its host state is its restored checkpoint's
      record = {}
      self._evaluate_one(m, end, record)
      m.writer.write(end, record)

  def _evaluate_one(self, m: SeedRun, step: int, record: dict) -> None:
    final = step >= self.setup.config.train.num_steps
    self._save_samples(m, "final" if final else f"step_{step:07d}")
    if m.config.eval.metrics:
      m.final_eval = self._evaluator(m)(m.state.g_ema_params)
      if final and m.config.eval.estimate_steps:
        m.final_eval.update(self._evaluator(m).divergence_estimates(m.state.g_ema_params))
      record.update({f"eval/{k}": v for k, v in m.final_eval.items()})

  def _evaluator(self, m: SeedRun) -> evaluation.Evaluator:
    if m.seed not in self._evaluators:  # built on first use; later members share its data
      shared = next(iter(self._evaluators.values()), None)
      self._evaluators[m.seed] = evaluation.Evaluator(
          m.config, self.setup.dataset, self.setup.generator, shared)
      if self.is_chief:
        workdir_lib.write_json(m.dir.path / "evaluation.json", self.eval_info(m))
    return self._evaluators[m.seed]

  def eval_info(self, m: SeedRun) -> dict:
    """The member's evaluation protocol (empty before its first evaluation).

    Args:
      m: the member.

    Returns:
      {num_samples, and Evaluator.info}.
    """
    if m.seed not in self._evaluators:
      return {}
    return {"num_samples": m.config.eval.num_samples, **self._evaluators[m.seed].info}

  def _save_samples(self, m: SeedRun, name: str) -> None:
    if not self.is_chief:
      return
    grids.save_samples(m.dir.path / "samples" / f"{name}.png",
                       np.asarray(self._sample_fn(m.state.g_ema_params, m.z_grid)),
                       self._reference, rows=m.config.eval.grid_size)

  def write(self, step: int, records) -> None:
    """Append each non-empty record to its member's metrics.

    Args:
      step: the step reached.
      records: the members' records of this step.
    """
    for m, record in zip(self.members, records):
      if record:
        m.writer.write(step, record)

  def save(self, step: int) -> None:
    """Checkpoint every member at ``step``.

    Raises:
      errors.NonFiniteError: a member rejected a step and stops on it.
      errors.CheckpointWriteError: a checkpoint could not be written.
    """
    for m in self.members:
      bad = int(m.state.nonfinite_steps)
      if bad and m.config.train.on_nonfinite == "stop":
        raise NonFiniteError(_nonfinite_message(int(m.state.first_nonfinite_step), m.ckpt))
      m.ckpt.save(step, m.state)

  def finish(self) -> list[dict]:
    """Write each member's summary.json; warn of rejected updates.

    Returns:
      The summaries.
    """
    step, summaries = self.setup.config.train.num_steps, []
    for m in self.members:
      rejected = int(m.state.nonfinite_steps) if m.state is not None else 0
      summary = {
          "step": step, "seed": m.seed, "divergence": m.config.divergence,
          "data": {k: self.setup.dataset.info[k] for k in ("name", "source", "content_sha256")},
          "final_metrics": m.final_record, "eval": m.final_eval, "eval_info": self.eval_info(m),
          "nonfinite_steps": rejected,
          "train_seconds_this_session": time.time() - self.clock.t_start,
          "time_to_first_step_s": self.clock.first_step_s, "resumed_from": m.restored_step,
          "seeds_trained_together": list(self.setup.seeds)}
      if rejected:
        print(f"fgan: warning: {rejected} of {step} updates in {m.dir.path} were rejected "
              "as non-finite (train.on_nonfinite = 'skip'); the parameters kept their "
              "previous values there.")
      if self.is_chief:
        workdir_lib.write_json(m.dir.path / "summary.json", summary)
      summaries.append(summary)
    return summaries


def _nonfinite_message(step, ckpt) -> str:
  last = ckpt.latest_step()
  if last is None:
    where = ("no checkpoint had been written yet; rerun with lower learning rates, a "
             "gradient penalty or another divergence, or with "
             "--config.train.on_nonfinite=skip to skip such updates (the run then starts "
             "afresh)")
  else:
    where = (f"the last good checkpoint is step {last} in {ckpt.directory}, not "
             "overwritten. Lower the learning rates, add a gradient penalty, try another "
             "divergence, or rerun with --config.train.on_nonfinite=skip to skip such "
             "updates (the run resumes from that checkpoint)")
  return f"fgan: non-finite losses or parameters at step {step}; the run stopped and {where}."

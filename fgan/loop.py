"""The host loop of one run, or of several seeds trained together: set up,
train, and at their intervals log, evaluate and checkpoint; then finish.

Everything that can be checked is checked before any file is touched: the
config, the devices, the data, the models and every work directory's state;
only then are the directories locked, a replaced run moved aside and the
identity files written (fgan.workdir). Rerunning the same command resumes
from the newest readable checkpoint; a finished run says so and does not
train again. SIGTERM or SIGINT, from the first second on, stops the run at
the next step with a checkpoint (or, before training, with nothing written
but the identity files).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import time

import jax
import numpy as np
from tqdm import tqdm

from fgan import checkpoint
from fgan import compute as compute_lib
from fgan import data
from fgan import errors
from fgan import evaluation
from fgan import grids
from fgan import models
from fgan import parallel
from fgan import provenance
from fgan import train
from fgan import validation
from fgan import workdir as workdir_lib
from fgan import writers

NonFiniteError, Preempted = errors.NonFiniteError, errors.Preempted


def run(config, workdir, overwrite: bool = False, progress: bool = True) -> dict:
  """Train (or resume) the run ``config`` in ``workdir``; return its summary."""
  return run_seeds(config, [config.seed], [workdir], overwrite, progress)[0]


def run_seeds(config, seeds, workdirs, overwrite: bool = False,
              progress: bool = True) -> list[dict]:
  """Train (or resume) runs of ``config`` that differ only in their seed,
  each in its own work directory; return their summaries.

  Several seeds train together in one compiled program: the pure train step
  vmapped over a leading seed axis of the state (batch draws, latents and
  initial parameters all derive from each run's own seed, so every run's
  numbers are those it gets alone, up to float rounding of batched matrix
  products). Every member must resume from the same step; fgan.sweep groups
  members by their checkpoints before calling.
  """
  with _signals() as received:
    setup = Setup.create(config, seeds)
    group = SeedGroup(setup, workdirs, overwrite)
    try:
      if group.finished():
        return group.summaries_on_disk()
      if received:
        raise Preempted(f"fgan: signal {received[0]} received before training began; "
                        "nothing was trained. Rerun the same command to start.")
      return _train(setup, group, received, progress)
    finally:
      group.close()


@dataclasses.dataclass(frozen=True)
class Setup:
  """What a run needs before it touches a file: the validated config, the
  data, the models (built once, by name) and the resolved compute switches."""
  config: object
  seeds: tuple
  dataset: data.Dataset
  generator: object
  critic: object
  compute: compute_lib.Compute

  @classmethod
  def create(cls, config, seeds) -> "Setup":
    if len(set(seeds)) != len(seeds) or not seeds:
      raise errors.ConfigError(f"run_seeds needs distinct seeds; got {list(seeds)}.")
    validation.validate(config, len(seeds))
    validation.validate_placement(config)
    dataset = data.load(config.data, "train", jax.process_index(), jax.process_count())
    validation.validate_with_data(config, dataset)
    resolved = compute_lib.resolve(config.compute, len(seeds))
    generator, critic = models.build(config.model, dataset.shape, resolved.conv_impl)
    return cls(config, tuple(int(s) for s in seeds), dataset, generator, critic, resolved)

  @property
  def grouped(self) -> bool:
    return len(self.seeds) > 1


@contextlib.contextmanager
def _signals():
  """Yields a list that becomes non-empty when SIGTERM or SIGINT arrives."""
  received = []
  handler = lambda signum, frame: received.append(signum)
  old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield received
  finally:
    for s, h in old.items():
      signal.signal(s, h)


@dataclasses.dataclass(frozen=True)
class _Due:
  """What the step just reached calls for: a log record, an evaluation (and
  sample grid), a checkpoint. Reached with k steps per call, an interval is
  due when step crossed one of its multiples, and everything at the end."""
  log: bool
  eval: bool
  checkpoint: bool

  @classmethod
  def at(cls, config, step: int, k: int) -> "_Due":
    last = step >= config.train.num_steps
    crossed = lambda every: step % every < k or last
    return cls(crossed(config.train.log_every), crossed(config.eval.every_steps),
               crossed(config.checkpoint.every_steps))


def _train(setup: Setup, group: "SeedGroup", received: list, progress: bool) -> list[dict]:
  """The training loop: one compiled call per iteration; logs, evaluations
  and checkpoints when due; a signal stops it with a checkpoint."""
  config, k = setup.config, setup.compute.steps_per_call
  runner = parallel.Runner(config, setup.generator, setup.critic, setup.dataset,
                           setup.compute, num_seeds=len(setup.seeds) if setup.grouped else 0)
  device_state = runner.place(group.stacked_state())
  device_data = runner.place(setup.dataset.arrays)
  clock = _Clock(group.start)
  step = group.start
  bar = tqdm(total=config.train.num_steps, initial=step, disable=not progress,
             dynamic_ncols=True, desc=config.divergence + (
                 f" x{len(setup.seeds)} seeds" if setup.grouped else ""))
  try:
    while step < config.train.num_steps:
      device_state, metrics = runner(device_state, device_data)
      step += k
      clock.first_call_done(device_state)
      bar.update(k)
      # Read once: a signal arriving after the sync below waits for the next
      # step, since the members' host states are fresh only right after a sync.
      stop, due = bool(received), _Due.at(config, step, k)
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
    if group.start >= config.train.num_steps:  # stopped after the last checkpoint
      group.evaluate(step, [{} for _ in group.members])
  finally:
    bar.close()
  return group.finish(step, clock)


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


class Member:
  """One run of a group: its seed, work directory, checkpoints, records and
  evaluator."""

  def __init__(self, setup: Setup, seed: int, path, overwrite: bool):
    self.config = setup.config.copy_and_resolve_references()
    with self.config.unlocked():
      self.config.seed = int(seed)
    self.seed = int(seed)
    self.dir = workdir_lib.WorkDir(path, self.config.to_dict())
    self.plan = self.dir.plan(overwrite)
    self.state = self.restored_step = self.ckpt = self.writer = self.evaluator = None
    self.final_record, self.final_eval = {}, {}
    self.z_grid = jax.random.normal(train.stream_key(seed, "sample_grid"),
                                    (self.config.eval.grid_size ** 2, self.config.model.z_dim))

  def open(self, setup: Setup, is_chief: bool) -> None:
    """Claim the directory, write the identity files, restore the newest
    checkpoint."""
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
          "seed": self.seed, "versions": provenance.versions(), "command": sys.argv,
          "machine": provenance.machine(), "devices": [str(d) for d in jax.devices()],
          "compute": dataclasses.asdict(setup.compute)})
    self.ckpt = checkpoint.Checkpointer(self.dir.path, self.config.checkpoint.keep)
    self.restored_step, self.state = self.ckpt.restore(state)
    self.writer = writers.MetricWriter(self.dir.path, enabled=is_chief)

  def finished(self) -> bool:
    return (int(self.restored_step or 0) >= self.config.train.num_steps
            and (self.dir.path / "summary.json").exists())


class SeedGroup:
  """The members of a run, one seed or several trained together, behind one
  interface: the state stacked on a leading seed axis when there are
  several, per-member views of it, and the periodic actions for all."""

  def __init__(self, setup: Setup, workdirs, overwrite: bool):
    if len(workdirs) != len(setup.seeds):
      raise errors.ConfigError(f"run_seeds needs one work directory per seed; got "
                               f"{len(workdirs)} for seeds {list(setup.seeds)}.")
    self.setup, self.is_chief = setup, jax.process_index() == 0
    self.members = [Member(setup, s, w, overwrite) for s, w in zip(setup.seeds, workdirs)]
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
    self._evaluators = {}
    ds = setup.dataset
    self._sample_fn = jax.jit(lambda p, z: train.generate(setup.generator, p, z, ds.shape))
    self._reference = (np.asarray(ds.sample({}, jax.random.PRNGKey(0), 2000))
                       if ds.kind == "toy" else None)

  def close(self) -> None:
    for m in self._opened:
      m.writer.close()
      m.ckpt.close()
      m.dir.unlock()
    self._opened = []

  def where(self) -> str:
    return ", ".join(str(m.dir.path) for m in self.members)

  def finished(self) -> bool:
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
    return [json.loads((m.dir.path / "summary.json").read_text()) for m in self.members]

  def _split(self, tree) -> list:
    """Per-member views of a tree that has a leading seed axis if grouped."""
    if not self.setup.grouped:
      return [tree]
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(len(self.members))]

  def stacked_state(self):
    states = [m.state for m in self.members]
    return jax.tree.map(lambda *xs: np.stack(xs), *states) if self.setup.grouped else states[0]

  def sync(self, host_state) -> None:
    """The members' host copies of the state, for evaluation and checkpoints."""
    for m, state in zip(self.members, self._split(host_state)):
      m.state = state

  def records(self, host_metrics, nonfinite, rate: float) -> list[dict]:
    """Each member's log record of the last step; stops at the first
    rejected (non-finite) step unless told to skip."""
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
    r = records[0]
    return {"d": f"{r['critic_loss']:.3f}", "g": f"{r['generator_loss']:.3f}",
            "F": f"{r['divergence_estimate']:.3f}"}

  def evaluate(self, step: int, records) -> None:
    """Each member's sample grid and (eval.metrics) evaluation, into its
    record."""
    final = step >= self.setup.config.train.num_steps
    for m, record in zip(self.members, records):
      self._save_samples(m, "final" if final else f"step_{step:07d}")
      if m.config.eval.metrics:
        m.final_eval = self._evaluator(m)(m.state.g_ema_params)
        if final and m.config.eval.estimate_steps:
          m.final_eval.update(self._evaluator(m).divergence_estimates(m.state.g_ema_params))
        record.update({f"eval/{k}": v for k, v in m.final_eval.items()})

  def _evaluator(self, m: Member) -> evaluation.Evaluator:
    if m.seed not in self._evaluators:  # built on first use; later members share its data
      shared = next(iter(self._evaluators.values()), None)
      self._evaluators[m.seed] = evaluation.Evaluator(
          m.config, self.setup.dataset, self.setup.generator, shared)
      if self.is_chief:
        workdir_lib.write_json(m.dir.path / "evaluation.json", self.eval_info(m))
    return self._evaluators[m.seed]

  def eval_info(self, m: Member) -> dict:
    if m.seed not in self._evaluators:
      return {}
    return {"num_samples": m.config.eval.num_samples, **self._evaluators[m.seed].info}

  def _save_samples(self, m: Member, name: str) -> None:
    if not self.is_chief:
      return
    grids.save_samples(m.dir.path / "samples" / f"{name}.png",
                       np.asarray(self._sample_fn(m.state.g_ema_params, m.z_grid)),
                       self._reference, rows=m.config.eval.grid_size)

  def write(self, step: int, records) -> None:
    for m, record in zip(self.members, records):
      if record:
        m.writer.write(step, record)

  def save(self, step: int) -> None:
    for m in self.members:
      bad = int(m.state.nonfinite_steps)
      if bad and m.config.train.on_nonfinite == "stop":
        raise NonFiniteError(_nonfinite_message(int(m.state.first_nonfinite_step), m.ckpt))
      m.ckpt.save(step, m.state)

  def finish(self, step: int, clock: _Clock) -> list[dict]:
    """Each member's summary.json; a warning for rejected updates."""
    summaries = []
    for m in self.members:
      rejected = int(m.state.nonfinite_steps) if m.state is not None else 0
      summary = {
          "step": step, "seed": m.seed, "divergence": m.config.divergence,
          "data": {k: self.setup.dataset.info[k] for k in ("name", "source", "content_sha256")},
          "final_metrics": m.final_record, "eval": m.final_eval, "eval_info": self.eval_info(m),
          "nonfinite_steps": rejected,
          "train_seconds_this_session": time.time() - clock.t_start,
          "time_to_first_step_s": clock.first_step_s, "resumed_from": m.restored_step,
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
  where = (f"the last good checkpoint is step {last} in {ckpt.directory}"
           if last is not None else "no checkpoint was written")
  return (f"fgan: non-finite losses or parameters at step {step}; the run "
          f"stopped and {where}, not overwritten. Lower the learning rates, "
          "add a gradient penalty, try another divergence, or rerun with "
          "--config.train.on_nonfinite=skip to skip such updates (the run resumes "
          "from that checkpoint).")

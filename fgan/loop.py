"""The host loop of one run: data, state, compiled steps, outputs, resume.

Work directory layout (stable; sweeps and reports read it):

    config.json        the resolved config
    data.json          data identity: source, file and content checksums
    run.json           seed, versions, devices, command line
    metrics.jsonl      one JSON record per log step
    tensorboard/       TensorBoard event files
    samples/           PNG sample grids from a fixed latent batch
    checkpoints/       orbax checkpoints (last ``checkpoint.keep``)
    summary.json       written when the run finishes

Rerunning the same command resumes from the newest readable checkpoint; a
finished run says so and does not train again.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import sys
import time

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from fgan import checkpoint
from fgan import data
from fgan import evaluation
from fgan import grids
from fgan import parallel
from fgan import provenance
from fgan import train
from fgan import validation
from fgan import writers

# Config fields that may change between the runs sharing one work directory
# (none changes the numbers a step computes; parallel layouts are equivalent).
RESUMABLE_CHANGES = ("train.num_steps", "train.log_every", "eval.", "checkpoint.keep",
                     "parallel.")
# Config fields added after runs were first written, with the value under
# which a run whose saved config lacks them trained: such a run resumes.
ADDED_FIELDS = {"critic_output_penalty": 0.0, "gradient_penalty_kind": "wgan_gp",
                "model.conv_chunk": 0, "data.resize": 0,
                "model.generator_extra_convs": 0, "model.critic_extra_convs": 0}


class NonFiniteError(RuntimeError):
  """The losses or parameters became NaN or Inf."""


class Preempted(RuntimeError):
  """SIGTERM or SIGINT arrived; a checkpoint was saved."""


def steps_per_call(config) -> int:
  k = config.train.steps_per_call
  return k if k > 0 else (1 if jax.default_backend() == "cpu" else 10)


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def field_parent(config, field: str):
  """(node, key) of a dotted config field ("model.conv_chunk") in a
  ConfigDict or plain dict: ``node[key]`` is the field."""
  *sections, key = field.split(".")
  for section in sections:
    config = config[section]
  return config, key


def saved_config(workdir) -> ml_collections.ConfigDict:
  """The config a work directory's run was made with (its config.json), with
  fields added to fgan since then set to the values that run trained under."""
  config = json.loads((pathlib.Path(workdir) / "config.json").read_text())
  for field, value in ADDED_FIELDS.items():
    node, key = field_parent(config, field)
    node.setdefault(key, value)
  return ml_collections.ConfigDict(config)


def _check_workdir(workdir: pathlib.Path, config_dict: dict, overwrite: bool):
  """Create the work directory; refuse one holding a different run."""
  try:
    workdir.mkdir(parents=True, exist_ok=True)
    probe = workdir / f".write_test.{jax.process_index()}"  # one per host
    probe.write_bytes(b"\0" * (1 << 20))
    probe.unlink()
  except OSError as e:
    raise validation.ConfigError(
        f"Work directory {workdir} is not writable ({e.strerror}). Choose "
        "another with --workdir or free space.") from e
  saved = workdir / "config.json"
  if not saved.exists():
    return
  old = _flatten(saved_config(workdir).to_dict())
  new = _flatten(json.loads(json.dumps(config_dict)))  # tuples as saved: lists
  diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)
                and not k.startswith(RESUMABLE_CHANGES))
  if not diff:
    return
  if not overwrite:
    raise validation.ConfigError(
        f"Work directory {workdir} holds a run of a different config "
        f"(differs in {', '.join(diff)}). Use another --workdir, or pass "
        "--overwrite to move the old run aside and start afresh.")
  moved = workdir.with_name(f"{workdir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
  workdir.rename(moved)
  print(f"fgan: moved the previous run to {moved}")
  workdir.mkdir(parents=True)


def _check_free_space(workdir: pathlib.Path, state, keep: int) -> None:
  """Refuse to start when the disk cannot hold the checkpoints to be kept
  (one more is written before the oldest is deleted) plus 16 MiB of logs."""
  state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
  need = (keep + 1) * state_bytes + (16 << 20)
  free = shutil.disk_usage(workdir).free
  if free < need:
    raise validation.ConfigError(
        f"Work directory {workdir} has {free / 2**20:.1f} MiB free but the run "
        f"needs about {need / 2**20:.1f} MiB ({keep + 1} checkpoints of "
        f"{state_bytes / 2**20:.1f} MiB and logs). Free space, choose another "
        "--workdir or lower config.checkpoint.keep.")


def _write_json(path: pathlib.Path, obj) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
  os.replace(tmp, path)


@contextlib.contextmanager
def _stop_on_signals():
  """Yields a list that becomes non-empty when SIGTERM or SIGINT arrives."""
  received = []
  handler = lambda signum, frame: received.append(signum)
  old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield received
  finally:
    for s, h in old.items():
      signal.signal(s, h)


def run(config, workdir, overwrite: bool = False, progress: bool = True) -> dict:
  """Train (or resume) the run ``config`` in ``workdir``; return its summary."""
  return run_seeds(config, [config.seed], [workdir], overwrite, progress)[0]


class _Member:
  """One run of a group: its seed, work directory, checkpoints and records."""

  def __init__(self, config, seed: int, workdir, overwrite: bool):
    self.config = config.copy_and_resolve_references()
    with self.config.unlocked():
      self.config.seed = int(seed)
    self.seed = int(seed)
    self.workdir = pathlib.Path(workdir)
    _check_workdir(self.workdir, self.config.to_dict(), overwrite)
    self.summary_path = self.workdir / "summary.json"

  def open(self, dataset, state, is_chief: bool):
    """Write the run's identity files; restore its newest checkpoint."""
    if is_chief:
      _write_json(self.workdir / "config.json", self.config.to_dict())
      _write_json(self.workdir / "data.json", dataset.info)
      _write_json(self.workdir / "run.json", {
          "seed": self.seed, "versions": provenance.versions(), "command": sys.argv,
          "machine": provenance.machine(), "devices": [str(d) for d in jax.devices()]})
    _check_free_space(self.workdir, state, self.config.checkpoint.keep)
    self.ckpt = checkpoint.Checkpointer(self.workdir, self.config.checkpoint.keep)
    self.restored_step, self.state = self.ckpt.restore(state)
    self.writer = None

  def finished(self) -> bool:
    return (int(self.restored_step or 0) >= self.config.train.num_steps
            and self.summary_path.exists())


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
  validation.validate(config)
  if len(seeds) != len(workdirs) or len(set(seeds)) != len(seeds) or not seeds:
    raise validation.ConfigError(
        f"run_seeds needs distinct seeds, one work directory each; got seeds "
        f"{list(seeds)} for {len(workdirs)} work directories.")
  if len(seeds) > 1 and config.parallel.mode != "none":
    raise validation.ConfigError(
        f"Seeds train together (vmapped) only with config.parallel.mode = "
        f"'none', not {config.parallel.mode!r}; train them one by one instead.")
  members = [_Member(config, s, w, overwrite) for s, w in zip(seeds, workdirs)]
  validation.validate_devices(config)
  dataset = data.load(config.data, "train", jax.process_index(), jax.process_count())
  validation.validate_with_data(config, dataset)
  is_chief = jax.process_index() == 0

  generator, critic = train.build_models(config, dataset.shape)
  for m in members:
    m.open(dataset, train.create_state(m.config, generator, critic, dataset.shape),
           is_chief)
  starts = {int(m.restored_step or 0) for m in members}
  if len(starts) > 1:
    for m in members:
      m.ckpt.close()
    raise validation.ConfigError(
        "Runs trained together must resume from the same step, but their "
        f"checkpoints are at steps {sorted(starts)}; train them one by one.")
  start = starts.pop()
  num_steps = config.train.num_steps
  if all(m.finished() for m in members):
    for m in members:
      print(f"fgan: run in {m.workdir} already finished at step {start}; nothing to do.")
      m.ckpt.close()
    return [json.loads(m.summary_path.read_text()) for m in members]
  if start:
    print(f"fgan: resuming from checkpoint {start} in "
          f"{', '.join(str(m.workdir) for m in members)}")

  for m in members:
    m.writer = writers.MetricWriter(m.workdir, enabled=is_chief)
    m.writer.truncate_after(start)
  k = steps_per_call(config)
  grouped = len(members) > 1
  runner = parallel.Runner(
      config, lambda axis: train.build_models(config, dataset.shape, axis), dataset, k,
      num_seeds=len(members) if grouped else 0)
  stack = lambda trees: jax.tree.map(lambda *xs: np.stack(xs), *trees)
  device_state = runner.place(stack([m.state for m in members]) if grouped
                              else members[0].state)
  device_data = runner.place(dataset.arrays)
  grid = config.eval.grid_size
  sample_fn = jax.jit(lambda p, z: train.generate(generator, p, z, dataset.shape))
  reference = (None if dataset.arrays else
               np.asarray(dataset.sample({}, jax.random.PRNGKey(0), 2000)))

  z_fixed = {m.seed: jax.random.normal(  # each run's fixed latent batch
      jax.random.fold_in(jax.random.PRNGKey(m.seed), 2**31 - 2),
      (grid * grid, config.model.z_dim)) for m in members}

  def save_samples(m, name):
    if not is_chief:
      return
    grids.save_samples(m.workdir / "samples" / f"{name}.png",
                       np.asarray(sample_fn(m.state.g_ema_params, z_fixed[m.seed])),
                       reference, rows=grid)

  evaluators = {}  # built on first use: the classifier may need training

  def evaluate(m):
    if not config.eval.metrics:
      return {}
    if m.seed not in evaluators:
      shared = next(iter(evaluators.values()), None)
      evaluators[m.seed] = evaluation.Evaluator(m.config, dataset, generator, shared)
      _write_json(m.workdir / "evaluation.json",
                  {"num_samples": config.eval.num_samples, **evaluators[m.seed].info})
    return evaluators[m.seed](m.state.g_ema_params)

  def check_finite():
    """Stop at the first rejected (non-finite) step unless told to skip."""
    bad, first = (np.atleast_1d(x) for x in runner.host(
        (device_state.nonfinite_steps, device_state.first_nonfinite_step)))
    for m, b, f in zip(members, bad, first):
      if b and config.train.on_nonfinite == "stop":
        raise NonFiniteError(_nonfinite_message(int(f), m.ckpt))
    return [int(b) for b in bad]

  def save_checkpoints(step):
    check_finite()
    for m in members:
      m.ckpt.save(step, m.state)

  def sync():
    """Host copies of the device state, for evaluation and checkpoints."""
    host = runner.host(device_state)
    for i, m in enumerate(members):
      m.state = jax.tree.map(lambda x: x[i], host) if grouped else host

  t_start = time.time()
  first_step_s = None
  step, last_log = start, (start, time.time())
  final = [{} for _ in members]
  final_eval = [{} for _ in members]
  bar = tqdm(total=num_steps, initial=start, disable=not progress, dynamic_ncols=True,
             desc=config.divergence + (f" x{len(members)} seeds" if grouped else ""))
  try:
    with _stop_on_signals() as signals:
      while step < num_steps:
        device_state, stacked = runner(device_state, device_data)
        step += k
        if first_step_s is None:
          jax.block_until_ready(device_state)
          first_step_s = time.time() - t_start
        bar.update(k)
        records = [{} for _ in members]
        if step % config.train.log_every < k or step >= num_steps:
          host_metrics = jax.device_get(stacked)
          bad = check_finite()
          now = time.time()
          rate = (step - last_log[0]) / (now - last_log[1])
          last_log = (step, now)
          for i, r in enumerate(records):
            r.update({name: float(v[-1, i] if grouped else v[-1])
                      for name, v in host_metrics.items()})
            r["nonfinite_steps"], r["steps_per_second"] = bad[i], rate
            final[i] = dict(r)
          bar.set_postfix(d=f"{records[0]['critic_loss']:.3f}",
                          g=f"{records[0]['generator_loss']:.3f}",
                          F=f"{records[0]['divergence_estimate']:.3f}", refresh=False)
        is_eval = step % config.eval.every_steps < k or step >= num_steps
        is_ckpt = step % config.checkpoint.every_steps < k or step >= num_steps
        # Read once: a signal arriving after the sync below waits for the next
        # step, since the members' states are fresh only right after a sync
        # (before the first, they are arrays the step's donation consumed).
        stop = bool(signals)
        if is_eval or is_ckpt or stop:
          sync()
        for i, m in enumerate(members):
          if is_eval:
            save_samples(m, "final" if step >= num_steps else f"step_{step:07d}")
            final_eval[i] = evaluate(m)
            records[i].update({f"eval/{k_}": v for k_, v in final_eval[i].items()})
          if records[i]:
            m.writer.write(step, records[i])
        if is_ckpt or stop:
          save_checkpoints(step)
        if stop:
          raise Preempted(
              f"fgan: signal {signals[0]} received; saved checkpoint {step} in "
              f"{', '.join(str(m.workdir) for m in members)}. Rerun the same "
              "command to resume.")
    if start >= num_steps:  # stopped between the last checkpoint and the summary
      for i, m in enumerate(members):
        save_samples(m, "final")
        final_eval[i] = evaluate(m)
  finally:
    bar.close()
    for m in members:
      m.writer.close()
      m.ckpt.close()

  summaries = []
  for i, m in enumerate(members):
    summary = {
        "step": step, "seed": m.seed, "divergence": config.divergence,
        "data": {k_: dataset.info[k_] for k_ in ("name", "source", "content_sha256")},
        "final_metrics": final[i],
        "eval": final_eval[i],
        "eval_info": ({"num_samples": config.eval.num_samples, **evaluators[m.seed].info}
                      if m.seed in evaluators else {}),
        "train_seconds_this_session": time.time() - t_start,
        "time_to_first_step_s": first_step_s,
        "resumed_from": m.restored_step,
        "seeds_trained_together": [x.seed for x in members],
    }
    if is_chief:
      _write_json(m.summary_path, summary)
    summaries.append(summary)
  return summaries


def _nonfinite_message(step, ckpt) -> str:
  last = ckpt.latest_step()
  where = (f"the last good checkpoint is step {last} in {ckpt.directory}"
           if last is not None else "no checkpoint was written")
  return (f"fgan: non-finite losses or parameters at step {step}; the run "
          f"stopped and {where}, not overwritten. Lower the learning rates, "
          "add a gradient penalty, try another divergence, or set "
          "config.train.on_nonfinite='skip' to skip such updates.")

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
import numpy as np
from tqdm import tqdm

from fgan import checkpoint
from fgan import data
from fgan import evaluation
from fgan import grids
from fgan import parallel
from fgan import train
from fgan import validation
from fgan import writers

# Config fields that may change between the runs sharing one work directory
# (none changes the numbers a step computes; parallel layouts are equivalent).
RESUMABLE_CHANGES = ("train.num_steps", "train.log_every", "eval.", "checkpoint.keep",
                     "parallel.")


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
  old = _flatten(json.loads(saved.read_text()))
  new = _flatten(config_dict)
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


def _versions() -> dict:
  import flax, optax, orbax.checkpoint  # pylint: disable=import-outside-toplevel,multiple-imports
  return {"python": sys.version.split()[0], "jax": jax.__version__,
          "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
          "flax": flax.__version__, "optax": optax.__version__,
          "orbax": orbax.checkpoint.__version__, "numpy": np.__version__}


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
  validation.validate(config)
  workdir = pathlib.Path(workdir)
  config_dict = config.to_dict()
  _check_workdir(workdir, config_dict, overwrite)
  validation.validate_devices(config)
  dataset = data.load(config.data, "train", jax.process_index(), jax.process_count())
  validation.validate_with_data(config, dataset)
  is_chief = jax.process_index() == 0

  if is_chief:
    _write_json(workdir / "config.json", config_dict)
    _write_json(workdir / "data.json", dataset.info)
    _write_json(workdir / "run.json", {
        "seed": config.seed, "versions": _versions(), "command": sys.argv,
        "backend": jax.default_backend(), "process_count": jax.process_count(),
        "devices": [str(d) for d in jax.devices()]})

  generator, critic = train.build_models(config, dataset.shape)
  state = train.create_state(config, generator, critic, dataset.shape)
  _check_free_space(workdir, state, config.checkpoint.keep)
  ckpt = checkpoint.Checkpointer(workdir, config.checkpoint.keep)
  restored_step, state = ckpt.restore(state)
  start = int(restored_step or 0)
  num_steps = config.train.num_steps
  summary_path = workdir / "summary.json"
  if start >= num_steps and summary_path.exists():
    print(f"fgan: run in {workdir} already finished at step {start}; nothing to do.")
    ckpt.close()
    return json.loads(summary_path.read_text())
  if restored_step is not None:
    print(f"fgan: resuming from checkpoint {start} in {workdir}")

  writer = writers.MetricWriter(workdir, enabled=is_chief)
  writer.truncate_after(start)
  k = steps_per_call(config)
  runner = parallel.Runner(
      config, lambda axis: train.build_models(config, dataset.shape, axis), dataset, k)
  device_state, device_data = runner.place(state), runner.place(dataset.arrays)
  grid = config.eval.grid_size
  z_fixed = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**31 - 2),
                              (grid * grid, config.model.z_dim))
  sample_fn = jax.jit(lambda p: train.generate(generator, p, z_fixed, dataset.shape))
  reference = (None if dataset.arrays else
               np.asarray(dataset.sample({}, jax.random.PRNGKey(0), 2000)))

  def save_samples(name):
    if not is_chief:
      return
    grids.save_samples(workdir / "samples" / f"{name}.png",
                       np.asarray(sample_fn(state.g_ema_params)), reference, rows=grid)

  evaluator = None  # built on first use: the classifier may need training

  def evaluate(step):
    nonlocal evaluator
    if not config.eval.metrics:
      return {}
    if evaluator is None:
      evaluator = evaluation.Evaluator(config, dataset, generator)
      _write_json(workdir / "evaluation.json",
                  {"num_samples": config.eval.num_samples, **evaluator.info})
    return evaluator(state.g_ema_params)

  def check_finite(step):
    """Stop at the first rejected (non-finite) step unless told to skip."""
    bad, first = (int(x) for x in runner.host(
        (device_state.nonfinite_steps, device_state.first_nonfinite_step)))
    if bad and config.train.on_nonfinite == "stop":
      raise NonFiniteError(_nonfinite_message(first, ckpt))
    return bad

  def save_checkpoint(step):
    check_finite(step)
    ckpt.save(step, state)

  def sync():
    """The host copy of the device state, for evaluation and checkpoints."""
    nonlocal state
    state = runner.host(device_state)

  t_start = time.time()
  first_step_s = None
  step, last_log = start, (start, time.time())
  metrics = {}
  bar = tqdm(total=num_steps, initial=start, disable=not progress,
             dynamic_ncols=True, desc=f"{config.divergence}")
  try:
    with _stop_on_signals() as signals:
      while step < num_steps:
        device_state, stacked = runner(device_state, device_data)
        step += k
        if first_step_s is None:
          jax.block_until_ready(device_state)
          first_step_s = time.time() - t_start
        bar.update(k)
        record = {}
        if step % config.train.log_every < k or step >= num_steps:
          metrics = {name: float(v[-1]) for name, v in stacked.items()}
          metrics["nonfinite_steps"] = check_finite(step)
          now = time.time()
          metrics["steps_per_second"] = (step - last_log[0]) / (now - last_log[1])
          last_log = (step, now)
          record.update(metrics)
          bar.set_postfix(d=f"{metrics['critic_loss']:.3f}",
                          g=f"{metrics['generator_loss']:.3f}",
                          F=f"{metrics['divergence_estimate']:.3f}",
                          refresh=False)
        is_eval = step % config.eval.every_steps < k or step >= num_steps
        is_ckpt = step % config.checkpoint.every_steps < k or step >= num_steps
        if is_eval or is_ckpt or signals:
          sync()
        if is_eval:
          save_samples("final" if step >= num_steps else f"step_{step:07d}")
          final_eval = evaluate(step)
          record.update({f"eval/{k_}": v for k_, v in final_eval.items()})
        if record:
          writer.write(step, record)
        if is_ckpt:
          save_checkpoint(step)
        if signals:
          save_checkpoint(step)
          raise Preempted(
              f"fgan: signal {signals[0]} received; saved checkpoint {step} in "
              f"{workdir}. Rerun the same command to resume.")
    if start >= num_steps:  # stopped between its last checkpoint and summary
      save_samples("final")
      final_eval = evaluate(step)
  finally:
    bar.close()
    writer.close()
    ckpt.close()

  summary = {
      "step": step, "seed": config.seed, "divergence": config.divergence,
      "data": {k_: dataset.info[k_] for k_ in ("name", "source", "content_sha256")},
      "final_metrics": metrics,
      "eval": final_eval, "eval_info": evaluator.info if evaluator else {},
      "train_seconds_this_session": time.time() - t_start,
      "time_to_first_step_s": first_step_s,
      "resumed_from": restored_step,
  }
  if is_chief:
    _write_json(summary_path, summary)
  return summary


def _nonfinite_message(step, ckpt) -> str:
  last = ckpt.latest_step()
  where = (f"the last good checkpoint is step {last} in {ckpt.directory}"
           if last is not None else "no checkpoint was written")
  return (f"fgan: non-finite losses or parameters at step {step}; the run "
          f"stopped and {where}, not overwritten. Lower the learning rates, "
          "add a gradient penalty, try another divergence, or set "
          "config.train.on_nonfinite='skip' to skip such updates.")

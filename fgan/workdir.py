"""A run's work directory: its identity files, the rules for resuming it,
compatibility with runs saved by earlier versions, and one writer at a time.

Layout (stable; sweeps and reports read it):

    config.json        the resolved config
    data.json          data identity: source, file and content checksums
    run.json           seed, versions, machine, resolved compute switches, command
    metrics.jsonl      one JSON record per log step
    tensorboard/       TensorBoard event files
    samples/           PNG sample grids from a fixed latent batch
    checkpoints/       orbax checkpoints (last ``checkpoint.keep``), with
    checkpoint_sha256/ the SHA-256 of each one's arrays
    evaluation.json    what the evaluation compares with
    summary.json       written when the run finishes

Beside it, ``<name>.lock`` holds the lock of the process training in it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import shutil
import socket
import time

import jax
import ml_collections

from fgan import errors

# Config fields that may change between the runs sharing one work directory:
# none changes the numbers a step computes (parallel layouts and compute
# switches are equivalent; on_nonfinite only decides what happens at a
# non-finite step, which a finished checkpoint never holds; num_steps only
# where no schedule is spread over it: ``resumable_changes``).
RESUMABLE_CHANGES = ("train.num_steps", "train.log_every", "train.on_nonfinite", "eval.",
                     "checkpoint.", "parallel.", "compute.")
# Config fields added after runs were first written, with the value under
# which a run whose saved config lacks them trained: such a run resumes.
ADDED_FIELDS = {"critic_output_penalty": 0.0, "critic_output_bound": 0.0, "critic_pack": 1,
                "gradient_penalty_kind": "wgan_gp",
                "gradient_penalty_anneal": 1.0,
                "data.resize": 0, "model.generator_extra_convs": 0,
                "model.critic_extra_convs": 0, "eval.estimate_steps": 0,
                "eval.feature_space": "classifier", "eval.inception_weights": ""}
# Fields of earlier versions that changed no result and are no longer in the
# schema (now under compute.): dropped from saved configs.
RETIRED_FIELDS = ("model.conv_impl", "model.conv_chunk", "train.steps_per_call")


def flatten(d, prefix=""):
  """{"a.b": value} of a nested dict."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def length_dependent(flat: dict) -> bool:
  """Whether the steps of the run with flattened config ``flat`` depend on
  its length train.num_steps: a learning rate decayed over the run
  (optim.<net>.decay, fgan.optimizers) or a gradient penalty annealed over
  it (gradient_penalty_anneal, fgan.losses.annealed_weight)."""
  decayed = any(flat.get(f"optim.{net}.decay", "none") != "none"
                for net in ("critic", "generator"))
  annealed = bool(flat.get("gradient_penalty", 0.0)) and flat.get(
      "gradient_penalty_anneal", 1.0) != 1.0
  return decayed or annealed


def resumable_changes(flat: dict) -> tuple[str, ...]:
  """The prefixes of RESUMABLE_CHANGES that the run with flattened config
  ``flat`` may change when resumed: all of them, but train.num_steps where
  a schedule is spread over it (``length_dependent``), since a run of
  another length computes other steps from the first one on."""
  if length_dependent(flat):
    return tuple(p for p in RESUMABLE_CHANGES if p != "train.num_steps")
  return RESUMABLE_CHANGES


def field_parent(config, field: str):
  """(node, key) of a dotted config field ("model.width") in a ConfigDict or
  plain dict: ``node[key]`` is the field."""
  *sections, key = field.split(".")
  for section in sections:
    config = config[section]
  return config, key


def saved_config(path) -> ml_collections.ConfigDict:
  """The config a work directory's run was made with (its config.json), read
  in today's schema: added fields at the values that run trained under,
  retired ones dropped. A missing or damaged file is a WorkdirError."""
  file = pathlib.Path(path) / "config.json"
  try:
    config = json.loads(file.read_text())
    for field, value in ADDED_FIELDS.items():
      node, key = field_parent(config, field)
      node.setdefault(key, value)
    for field in RETIRED_FIELDS:
      node, key = field_parent(config, field)
      node.pop(key, None)
  except FileNotFoundError as e:
    raise errors.WorkdirError(f"{file} does not exist.") from e
  except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
    raise errors.WorkdirError(
        f"{file} is damaged ({type(e).__name__}: {e}), so fgan cannot tell which "
        "config the run in it was made with. Restore the file, or pass --overwrite to "
        "move that run aside and start afresh.") from e
  return ml_collections.ConfigDict(config)


def write_json(path: pathlib.Path, obj) -> None:
  """``obj`` as indented JSON, replacing ``path`` atomically."""
  tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
  tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
  os.replace(tmp, path)


class WorkDir:
  """One run's directory: ``plan`` inspects it (no side effects), ``lock``
  and ``prepare`` then claim it."""

  def __init__(self, path, config_dict: dict):
    self.path = pathlib.Path(path)
    self.config_dict = json.loads(json.dumps(config_dict))  # tuples as saved: lists
    self.lock_path = self.path.with_name(self.path.name + ".lock")
    self._lock_file = None

  def plan(self, overwrite: bool) -> str:
    """"fresh", "resume" or "replace" (with ``overwrite``: move the old run
    aside); a WorkdirError for a directory that cannot take this run."""
    if self.path.exists() and not self.path.is_dir():
      raise errors.WorkdirError(f"Work directory {self.path} is a file, not a directory. "
                                "Choose another with --workdir.")
    if not (self.path / "config.json").exists():
      if any((self.path / "checkpoints").glob("[0-9]*")):
        if overwrite:
          return "replace"
        raise errors.WorkdirError(
            f"Work directory {self.path} holds checkpoints but no config.json, so fgan "
            "cannot tell which config they belong to. Restore config.json, or pass "
            "--overwrite to move that run aside and start afresh.")
      return "fresh"
    try:
      old = flatten(saved_config(self.path).to_dict())
    except errors.WorkdirError:
      if overwrite:
        return "replace"
      raise
    new = flatten(self.config_dict)
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)
                  and not k.startswith(resumable_changes(old)))
    if not diff:
      return "resume"
    if overwrite:
      return "replace"
    why = (" (a learning-rate decay or penalty annealing is spread over "
           "train.num_steps, so a run of another length is another run)"
           if "train.num_steps" in diff else "")
    raise errors.WorkdirError(
        f"Work directory {self.path} holds a run of a different config (differs in "
        f"{', '.join(diff)}){why}. Use another --workdir, or pass --overwrite to move "
        "the old run aside and start afresh.")

  def lock(self) -> None:
    """Hold ``<name>.lock`` (flock) for the life of this process; a second
    process is refused with the first one's PID and host. The kernel
    releases the lock when its holder exits or is killed, so a stale lock
    file never blocks a rerun."""
    try:
      self.path.parent.mkdir(parents=True, exist_ok=True)
      f = open(self.lock_path, "a+")  # pylint: disable=consider-using-with
    except OSError as e:
      raise errors.WorkdirError(
          f"Work directory {self.path} is not writable ({e.strerror}). Choose "
          "another with --workdir or free space.") from e
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      f.seek(0)
      holder = f.read().strip() or "an unknown process"
      f.close()
      raise errors.WorkdirError(
          f"Work directory {self.path} is in use by another fgan process ({holder}). "
          "Wait for it to finish or stop it; two processes must not train one run.") from e
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                        "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
    f.flush()
    self._lock_file = f

  def unlock(self) -> None:
    if self._lock_file is not None:
      self._lock_file.close()  # releases the flock
      self._lock_file = None

  def prepare(self, plan: str) -> None:
    """Carry out ``plan``: move a replaced run aside, create the directory,
    and check that it is writable."""
    if plan == "replace":
      moved = self.path.with_name(f"{self.path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
      self.path.rename(moved)
      print(f"fgan: moved the previous run to {moved}")
    try:
      self.path.mkdir(parents=True, exist_ok=True)
      probe = self.path / f".write_test.{jax.process_index()}"  # one per host
      probe.write_bytes(b"\0" * (1 << 20))
      probe.unlink()
    except OSError as e:
      raise errors.WorkdirError(
          f"Work directory {self.path} is not writable ({e.strerror}). Choose "
          "another with --workdir or free space.") from e

  def check_free_space(self, state_bytes: int, keep: int) -> None:
    """Refuse to start when the disk cannot hold the checkpoints to be kept
    (one more is written before the oldest is deleted) plus 16 MiB of logs."""
    need = (keep + 1) * state_bytes + (16 << 20)
    free = shutil.disk_usage(self.path).free
    if free < need:
      raise errors.WorkdirError(
          f"Work directory {self.path} has {free / 2**20:.1f} MiB free but the run "
          f"needs about {need / 2**20:.1f} MiB ({keep + 1} checkpoints of "
          f"{state_bytes / 2**20:.1f} MiB and logs). Free space, choose another "
          "--workdir or lower config.checkpoint.keep.")

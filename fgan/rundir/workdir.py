"""A run's work directory: its identity files, the rules for resuming it,
and one writer at a time.

Layout (stable; sweeps and reports read it):

    config.json        the resolved config
    data.json          data identity: source, file and content checksums
    run.json           seed, commit, versions, machine, resolved compute switches, command
    metrics.jsonl      one JSON record per log step
    tensorboard/       TensorBoard event files
    samples/           PNG sample grids from a fixed latent batch
    checkpoints/       orbax checkpoints (last ``checkpoint.keep``), with
    checkpoint_sha256/ the SHA-256 of each one's arrays
    evaluation.json    what the evaluation compares with
    summary.json       written when the run finishes

Beside the directory (its path with every symbolic link and ``..``
resolved), ``<name>.lock`` holds the lock of the process training in it,
and ``.lock`` inside it the same lock for paths that reach the directory
otherwise (a bind mount).
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

from fgan import config as config_lib
from fgan import errors

# Config fields that may change between the runs sharing one work directory:
# none changes the numbers a step computes (parallel layouts and compute
# switches are equivalent; on_nonfinite only decides what happens at a
# non-finite step, which a finished checkpoint never holds; num_steps only
# where no schedule is spread over it: ``resumable_changes``).
RESUMABLE_CHANGES = ("train.num_steps", "train.log_every", "train.on_nonfinite", "eval.",
                     "checkpoint.", "parallel.", "compute.")


def length_dependent(flat: dict) -> bool:
  """Whether a run's steps depend on its length train.num_steps: a learning
  rate decayed over the run (optim.<net>.decay, fgan.optimizers) or a
  gradient penalty annealed over it (gradient_penalty_anneal,
  fgan.losses.annealed_weight).

  Args:
    flat: the run's config, flattened (fgan.config.flatten).

  Returns:
    True where a schedule spans the run's length.
  """
  decayed = any(flat.get(f"optim.{net}.decay", "none") != "none"
                for net in ("critic", "generator"))
  annealed = bool(flat.get("gradient_penalty", 0.0)) and flat.get(
      "gradient_penalty_anneal", 1.0) != 1.0
  return decayed or annealed


def resumable_changes(flat: dict) -> tuple[str, ...]:
  """The prefixes of RESUMABLE_CHANGES a run may change when resumed: all of
  them, but train.num_steps where a schedule spans the run's length
  (``length_dependent``), since a run of another length computes other
  steps from the first one on.

  Args:
    flat: the run's config, flattened.

  Returns:
    Field prefixes.
  """
  if length_dependent(flat):
    return tuple(p for p in RESUMABLE_CHANGES if p != "train.num_steps")
  return RESUMABLE_CHANGES


def saved_config(path) -> ml_collections.ConfigDict:
  """The config a work directory's run was made with, in today's schema
  (fgan.config.from_saved).

  Args:
    path: the work directory.

  Returns:
    The config.

  Raises:
    errors.WorkdirError: config.json is missing or damaged.
  """
  file = pathlib.Path(path) / "config.json"
  try:
    return config_lib.from_saved(json.loads(file.read_text()))
  except FileNotFoundError as e:
    raise errors.WorkdirError(f"{file} does not exist.") from e
  except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError,
          errors.ConfigError) as e:
    raise errors.WorkdirError(
        f"{file} is damaged ({type(e).__name__}: {e}), so fgan cannot tell which "
        "config the run in it was made with. Restore the file, or pass --overwrite to "
        "move that run aside and start afresh.") from e


def write_json(path: pathlib.Path, obj) -> None:
  """Write ``obj`` as indented JSON with sorted keys, replacing ``path``
  atomically (a temporary file, then a rename).

  Args:
    path: the file.
    obj: a JSON-serialisable object.
  """
  tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
  tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
  os.replace(tmp, path)


# What a run's directory holds (the layout above), and what a run cut short
# before its config.json may have left.
_OWN_FILES = ("config.json", "data.json", "run.json", "metrics.jsonl", "tensorboard",
              "samples", "checkpoints", "checkpoint_sha256", "checkpoints_unreadable",
              "evaluation.json", "summary.json", "failed.json", ".lock")


def _own_file(name: str) -> bool:
  return (name in _OWN_FILES or name.startswith((".write_test.", "eval_step_"))
          or ".tmp" in name)


def _not_writable(path, e: OSError) -> errors.WorkdirError:
  return errors.WorkdirError(f"Work directory {path} is not writable ({e.strerror}). "
                             "Choose another with --workdir or free space.")


class WorkDir:
  """One run's directory: ``plan`` inspects it (no side effects), ``lock``
  and ``prepare`` then claim it.

  Attributes:
    path: the directory as given.
    config_dict: the run's config as config.json holds it.
  """

  def __init__(self, path, config_dict: dict):
    """Args: path, the directory; config_dict, the run's config (a dict)."""
    self.path = pathlib.Path(path)
    self.config_dict = config_lib.as_json(config_dict)
    self._locks = []

  def plan(self, overwrite: bool) -> str:
    """What the directory allows for this run.

    Args:
      overwrite: a run of another config (or unreadable) may be moved aside.

    Returns:
      "fresh", "resume" or "replace" (move the old run aside).

    Raises:
      errors.WorkdirError: the directory cannot take this run.
    """
    if self.path.exists() and not self.path.is_dir():
      raise errors.WorkdirError(f"Work directory {self.path} is a file, not a directory. "
                                "Choose another with --workdir.")
    if not self.path.resolve().name:
      raise errors.WorkdirError(f"Work directory {self.path} is the file system's root. "
                                "Choose another with --workdir.")
    for name in ("checkpoints", "checkpoint_sha256", "samples", "tensorboard"):
      if (self.path / name).exists() and not (self.path / name).is_dir():
        raise errors.WorkdirError(
            f"{self.path / name} is a file, not a directory, so the run cannot write "
            "there. Move it away (or use another --workdir) and rerun.")
    if not (self.path / "config.json").exists():
      foreign = sorted(p.name for p in self.path.glob("*") if not _own_file(p.name))
      if foreign:
        raise errors.WorkdirError(
            f"Work directory {self.path} holds files that are not an fgan run's "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}) and no "
            "config.json. Choose a new or empty directory with --workdir.")
      if any((self.path / "checkpoints").glob("[0-9]*")):
        if overwrite:
          return "replace"
        raise errors.WorkdirError(
            f"Work directory {self.path} holds checkpoints but no config.json, so fgan "
            "cannot tell which config they belong to. Restore config.json, or pass "
            "--overwrite to move that run aside and start afresh.")
      return "fresh"
    try:
      old = config_lib.flatten(saved_config(self.path).to_dict())
    except errors.WorkdirError:
      if overwrite:
        return "replace"
      raise
    new = config_lib.flatten(self.config_dict)
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
    """Hold the run's lock (flock) for the life of this process:
    ``<resolved path>.lock`` beside the directory, and ``.lock`` inside it
    when it exists, so every spelling of its path (symbolic links, ``..``,
    relative or absolute, a bind mount) meets the same lock. A second
    process is refused with the first one's PID and host; the kernel
    releases a lock when its holder exits or is killed, so a stale lock
    file never blocks a rerun.

    Raises:
      errors.WorkdirError: held by another process, or not writable.
    """
    resolved = self.path.resolve()
    try:
      resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise _not_writable(self.path, e) from e
    self._hold(resolved.with_name(resolved.name + ".lock"))
    if resolved.is_dir():
      self._hold(resolved / ".lock")

  def _hold(self, lock_path: pathlib.Path) -> None:
    try:
      f = open(lock_path, "a+")  # pylint: disable=consider-using-with
    except OSError as e:
      self.unlock()
      raise _not_writable(self.path, e) from e
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      f.seek(0)
      holder = f.read().strip() or "an unknown process"
      f.close()
      self.unlock()
      raise errors.WorkdirError(
          f"Work directory {self.path} is in use by another fgan process ({holder}). "
          "Wait for it to finish or stop it; two processes must not train one run.") from e
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                        "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
    f.flush()
    self._locks.append(f)

  def unlock(self) -> None:
    """Release the locks this process holds (none: nothing happens)."""
    for f in self._locks:
      f.close()  # releases the flock
    self._locks = []

  def prepare(self, plan: str) -> None:
    """Carry out ``plan``: move a replaced run aside, create the directory
    (and take the lock inside it), and check that it is writable.

    Args:
      plan: what ``plan`` returned.

    Raises:
      errors.WorkdirError: the directory is not writable.
    """
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
      raise _not_writable(self.path, e) from e
    inner = self.path.resolve() / ".lock"
    if self._locks and not any(pathlib.Path(f.name) == inner for f in self._locks):
      self._hold(inner)

  def check_free_space(self, state_bytes: int, keep: int) -> None:
    """Refuse to start when the disk cannot hold the checkpoints to be kept
    (one more is written before the oldest is deleted) plus 16 MiB of logs.

    Args:
      state_bytes: the size of one checkpoint's arrays.
      keep: checkpoints kept.

    Raises:
      errors.WorkdirError: too little free space.
    """
    need = (keep + 1) * state_bytes + (16 << 20)
    free = shutil.disk_usage(self.path).free
    if free < need:
      raise errors.WorkdirError(
          f"Work directory {self.path} has {free / 2**20:.1f} MiB free but the run "
          f"needs about {need / 2**20:.1f} MiB ({keep + 1} checkpoints of "
          f"{state_bytes / 2**20:.1f} MiB and logs). Free space, choose another "
          "--workdir or lower config.checkpoint.keep.")

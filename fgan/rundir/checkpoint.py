"""Orbax checkpoints of the train state, every N steps, keeping the last K,
each verified by the SHA-256 of its arrays.

Orbax writes each checkpoint into a temporary folder and renames it when
complete, so a process killed mid-write leaves the previous checkpoint
intact. Before a checkpoint is written, the SHA-256 of every array of the
state goes into ``checkpoint_sha256/<step>.json``; on restore the arrays read
back are checked against it. Only a verified checkpoint is restored: one
that cannot be read, whose arrays differ from what was written (flipped
bits, random bytes), whose checksum file is missing or damaged, or whose
floating-point arrays are not all finite is moved to
``checkpoints_unreadable/`` (never deleted), said, and the previous one is
used (or, with none left, the run starts afresh).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from fgan import errors


def array_checksums(state) -> list[str]:
  """SHA-256 of each leaf's dtype, shape and bytes, in tree order.

  Args:
    state: a pytree of arrays.

  Returns:
    One hex digest per leaf.
  """
  out = []
  for x in jax.tree.leaves(state):
    x = np.ascontiguousarray(np.asarray(x))
    h = hashlib.sha256(f"{x.dtype}{x.shape}".encode())
    h.update(x.tobytes())
    out.append(h.hexdigest())
  return out


def _all_finite(state) -> bool:
  return all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state)
             if np.issubdtype(np.asarray(x).dtype, np.floating))


class Checkpointer:
  """Saves and restores train-state pytrees under ``workdir/checkpoints``.

  Attributes:
    directory: the checkpoints' folder.
  """

  def __init__(self, workdir, keep: int):
    """Args: workdir, the run's directory; keep, checkpoints kept.

    Raises:
      errors.WorkdirError: ``checkpoints`` (or its checksums' folder) is
        not a directory.
    """
    self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
    self._sums = self.directory.parent / "checkpoint_sha256"
    for folder in (self.directory, self._sums):
      if folder.exists() and not folder.is_dir():
        raise errors.WorkdirError(
            f"{folder} is a file, not a directory, so checkpoints cannot be kept there. "
            "Move it away (or use another --workdir) and rerun.")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def steps(self) -> list[int]:
    """The steps of the checkpoints present, ascending.

    Returns:
      The steps.
    """
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    """The newest checkpoint's step, or None.

    Returns:
      The step.
    """
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    """Write checkpoint ``step`` (its checksums first).

    Args:
      step: the train step.
      state: the host train state.

    Raises:
      errors.CheckpointWriteError: it could not be written (disk full,
        permissions); the message names the last good checkpoint, intact.
    """
    try:
      self._sums.mkdir(exist_ok=True)
      tmp = self._sums / f"{step}.json.tmp"
      tmp.write_text(json.dumps(array_checksums(state)))
      os.replace(tmp, self._sums / f"{step}.json")
      self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      last = [s for s in self.steps() if s != step]
      where = (f"the last good checkpoint is step {last[-1]} in {self.directory}" if last
               else "no earlier checkpoint exists")
      raise errors.CheckpointWriteError(
          f"fgan: could not write checkpoint {step} in {self.directory} "
          f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); "
          f"{where}, intact. Free space (or fix the permissions) and rerun the same "
          "command to resume.") from e
    keep = {f"{s}.json" for s in self.steps()}
    for f in self._sums.glob("*.json"):
      if f.name not in keep:
        f.unlink()

  def restore_step(self, step: int, target):
    """The state saved at ``step``, verified.

    Args:
      step: the checkpoint's step.
      target: a state of the same structure, shapes and dtypes.

    Returns:
      The restored state.

    Raises:
      ValueError: no checksum file, arrays that differ from their checksums,
        or non-finite floating-point arrays.
    """
    sums = self._sums / f"{step}.json"
    if not sums.exists():
      raise ValueError(f"its checksum file {sums} is missing, so its arrays cannot be "
                       "verified")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    if json.loads(sums.read_text()) != array_checksums(state):
      raise ValueError("its arrays differ from the checksums recorded when it was written")
    if not _all_finite(state):
      raise ValueError("it holds non-finite numbers")
    return state

  def restore(self, target):
    """The newest checkpoint that restores and verifies; each one that does
    not is moved to checkpoints_unreadable/ and said.

    Args:
      target: a state of the same structure, shapes and dtypes.

    Returns:
      (step, state), or (None, target) when none verifies.
    """
    for step in reversed(self.steps()):
      try:
        return step, self.restore_step(step, target)
      except Exception as e:  # pylint: disable=broad-except
        aside = self.directory.parent / "checkpoints_unreadable" / (
            f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.parent.mkdir(exist_ok=True)
        (self.directory / str(step)).rename(aside)
        self._manager.reload()
        print(f"fgan: checkpoint {step} in {self.directory} cannot be used "
              f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); "
              f"moved it to {aside} and falling back to the previous one.")
    return None, target

  def close(self) -> None:
    """Wait for pending writes and release the manager."""
    self._manager.close()

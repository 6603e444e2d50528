"""Orbax checkpoints of the train state, every N steps, keeping the last K,
each verified by the SHA-256 of its arrays.

Orbax writes each checkpoint into a temporary folder and renames it when
complete, so a process killed mid-write leaves the previous checkpoint
intact. Before a checkpoint is written, the SHA-256 of every array of the
state goes into ``checkpoint_sha256/<step>.json``; on restore the arrays read
back are checked against it. A checkpoint that cannot be read, or whose
arrays differ from what was written (flipped bits, random bytes), is moved
to ``checkpoints_unreadable/`` (never deleted) and the previous one is used.
A checkpoint without a checksum file was written before fgan recorded them
and is restored unverified.
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
  """SHA-256 of each leaf's dtype, shape and bytes, in tree order."""
  out = []
  for x in jax.tree.leaves(state):
    x = np.ascontiguousarray(np.asarray(x))
    h = hashlib.sha256(f"{x.dtype}{x.shape}".encode())
    h.update(x.tobytes())
    out.append(h.hexdigest())
  return out


class Checkpointer:
  """Saves and restores TrainState pytrees under ``workdir/checkpoints``."""

  def __init__(self, workdir, keep: int):
    self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
    self._sums = self.directory.parent / "checkpoint_sha256"
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    """Write checkpoint ``step`` (its checksums first); a failure to write
    (disk full, permissions) is a CheckpointWriteError naming the last good
    checkpoint, which is left intact."""
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
          f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); {where}, intact. Free "
          "space (or fix the permissions) and rerun the same command to resume.") from e
    keep = {f"{s}.json" for s in self.steps()}
    for f in self._sums.glob("*.json"):
      if f.name not in keep:
        f.unlink()

  def restore_step(self, step: int, target):
    """The state saved at ``step``, verified against its checksums."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    state = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    sums = self._sums / f"{step}.json"
    if sums.exists() and json.loads(sums.read_text()) != array_checksums(state):
      raise ValueError("its arrays differ from the checksums recorded when it was written")
    return state

  def restore(self, target):
    """(step, state) of the newest readable, verified checkpoint, or (None,
    target)."""
    for step in reversed(self.steps()):
      try:
        return step, self.restore_step(step, target)
      except Exception as e:  # pylint: disable=broad-except
        aside = self.directory.parent / "checkpoints_unreadable" / (
            f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.parent.mkdir(exist_ok=True)
        (self.directory / str(step)).rename(aside)
        self._manager.reload()
        print(f"fgan: checkpoint {step} in {self.directory} is unreadable "
              f"({type(e).__name__}: {str(e).splitlines()[0][:160]}); moved it to {aside} "
              "and falling back to the previous one.")
    return None, target

  def close(self):
    self._manager.close()

"""Orbax checkpoints of the train state, every N steps, keeping the last K.

Orbax writes each checkpoint into a temporary folder and renames it when
complete, so a process killed mid-write leaves the previous checkpoint
intact. On restore, a latest checkpoint that cannot be read (truncated or
corrupt files) is reported and the previous one is used.
"""

from __future__ import annotations

import logging
import pathlib
import time

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores TrainState pytrees under ``workdir/checkpoints``."""

  def __init__(self, workdir, keep: int):
    self.directory = pathlib.Path(workdir).absolute() / "checkpoints"
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore_step(self, step: int, target):
    """The state saved at ``step``."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def restore(self, target):
    """(step, state) of the newest readable checkpoint, or (None, target)."""
    for step in reversed(self.steps()):
      try:
        return step, self.restore_step(step, target)
      except Exception as e:  # pylint: disable=broad-except
        aside = self.directory.parent / "checkpoints_unreadable" / (
            f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.parent.mkdir(exist_ok=True)
        (self.directory / str(step)).rename(aside)
        self._manager.reload()
        logging.warning("Checkpoint %d cannot be read (%s: %s)", step,
                        type(e).__name__, e)
        print(f"fgan: checkpoint {step} in {self.directory} is unreadable "
              f"({type(e).__name__}); moved it to {aside} and falling back to "
              "the previous one.")
    return None, target

  def close(self):
    self._manager.close()

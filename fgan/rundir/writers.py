"""Where a run's numbers go: JSON lines (the record) and TensorBoard events.

The events are written synchronously by this process (fgan.rundir.events:
TensorBoard's file format, no TensorFlow needed, no background writer
thread, which would block for good once a write fails), so a failed write (a
full disk) is an OSError in the run, which ends it with one message, never
a hang.
"""

from __future__ import annotations

import json
import math
import os
import pathlib

from fgan import errors
from fgan.rundir import events


class MetricWriter:
  """Appends {"step": s, **metrics} lines to metrics.jsonl and writes the
  same scalars to TensorBoard under workdir/tensorboard.

  Attributes:
    path: the metrics.jsonl file.
    enabled: whether this process writes (process 0 of a multi-host run).
  """

  def __init__(self, workdir, enabled: bool = True):
    """Args: workdir, the run's directory; enabled, as the attribute."""
    self.path = pathlib.Path(workdir) / "metrics.jsonl"
    self.enabled = enabled
    self._events = None
    if enabled:
      folder = pathlib.Path(workdir) / "tensorboard"
      folder.mkdir(exist_ok=True)
      self._events = events.EventFile(folder)

  def truncate_after(self, step: int) -> None:
    """Drop records past ``step`` (left by a run stopped after its last
    checkpoint), so a resumed run's record equals an uninterrupted one's; a
    torn last line (a write cut short) is dropped too."""
    if not self.enabled or not self.path.exists():
      return
    records = read_metrics(self.path.parent, torn_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records if r["step"] <= step)
    tmp = self.path.with_suffix(".jsonl.tmp")
    tmp.write_text(text)
    os.replace(tmp, self.path)

  def write(self, step: int, metrics: dict) -> None:
    """Append one record and its scalars' events.

    Args:
      step: the train step.
      metrics: {name: number}; non-finite numbers are written as strings.

    Raises:
      OSError: a write failed (the record is then at most torn at its end,
        which a resume drops).
    """
    if not self.enabled:
      return
    record = {"step": int(step)}
    record.update({k: _jsonable(v) for k, v in metrics.items()})
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    self._events.write_scalars(step, {k: v for k, v in record.items()
                                      if k != "step" and isinstance(v, float)})
    self._events.flush()

  def close(self) -> None:
    """Flush and close the event file; a failure to is said, not raised
    (the record, metrics.jsonl, is complete without it)."""
    if self._events is not None:
      try:
        self._events.close()
      except OSError as e:
        print(f"fgan: warning: could not close the TensorBoard events in "
              f"{self.path.parent / 'tensorboard'} ({e.strerror or e}); metrics.jsonl "
              "holds every record.")
      self._events = None


def _jsonable(v):
  v = float(v)
  return v if math.isfinite(v) else str(v)


def read_metrics(workdir, torn_ok: bool = False) -> list[dict]:
  """The records of workdir/metrics.jsonl.

  Args:
    workdir: the run's directory.
    torn_ok: an unreadable last line (a write cut short by a kill) is left
      out, and said.

  Returns:
    The records, each a dict with an int "step".

  Raises:
    errors.WorkdirError: a line (other than a torn last one) is not a
      record; the message names it.
  """
  path = pathlib.Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  lines = [l for l in path.read_text().splitlines() if l.strip()]
  records = []
  for i, line in enumerate(lines):
    try:
      record = json.loads(line)
      if not (isinstance(record, dict) and isinstance(record.get("step"), int)):
        raise ValueError("not an object with an integer step")
      records.append(record)
    except ValueError as e:
      if torn_ok and i == len(lines) - 1 and isinstance(e, json.JSONDecodeError):
        print(f"fgan: dropped the torn last line of {path} (a write cut short).")
        break
      raise errors.WorkdirError(
          f"{path} line {i + 1} is not a metrics record ({e}); the file is damaged. "
          "Repair or remove that line, then rerun.") from e
  return records

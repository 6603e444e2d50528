"""Where a run's numbers go: JSON lines (the record) and TensorBoard events
(tensorboardX, no TensorFlow needed)."""

from __future__ import annotations

import json
import math
import os
import pathlib

from fgan import errors


class MetricWriter:
  """Appends {"step": s, **metrics} lines to metrics.jsonl and writes the
  same scalars to TensorBoard under workdir/tensorboard."""

  def __init__(self, workdir, enabled: bool = True):
    self.path = pathlib.Path(workdir) / "metrics.jsonl"
    self.enabled = enabled
    self._tb = None
    if enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel
      self._tb = SummaryWriter(str(pathlib.Path(workdir) / "tensorboard"))

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
    if not self.enabled:
      return
    record = {"step": int(step)}
    record.update({k: _jsonable(v) for k, v in metrics.items()})
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")
    for k, v in record.items():
      if k != "step" and isinstance(v, float):
        self._tb.add_scalar(k, v, step)
    self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def _jsonable(v):
  v = float(v)
  return v if math.isfinite(v) else str(v)


def read_metrics(workdir, torn_ok: bool = False) -> list[dict]:
  """The records of workdir/metrics.jsonl. With ``torn_ok`` an unreadable
  last line (a write cut short by a kill) is left out; any other unreadable
  line is a WorkdirError naming it."""
  path = pathlib.Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  lines = [l for l in path.read_text().splitlines() if l.strip()]
  records = []
  for i, line in enumerate(lines):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError as e:
      if torn_ok and i == len(lines) - 1:
        print(f"fgan: dropped the torn last line of {path} (a write cut short).")
        break
      raise errors.WorkdirError(
          f"{path} line {i + 1} is not a JSON record ({e.msg}); the file is damaged. "
          "Repair or remove that line, then rerun.") from e
  return records

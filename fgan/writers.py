"""Where a run's numbers go: JSON lines (the record) and TensorBoard events
(tensorboardX, no TensorFlow needed)."""

from __future__ import annotations

import json
import math
import pathlib


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
    checkpoint), so a resumed run's record equals an uninterrupted one's."""
    if not self.enabled or not self.path.exists():
      return
    lines = self.path.read_text().splitlines()
    kept = [l for l in lines if l.strip() and json.loads(l)["step"] <= step]
    self.path.write_text("".join(l + "\n" for l in kept))

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


def read_metrics(workdir) -> list[dict]:
  path = pathlib.Path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]

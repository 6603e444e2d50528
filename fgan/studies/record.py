"""A study's record of its members: one JSON line per member run, from which
its tables and curves are rebuilt and by which a sweep skips what is done.

Each line (``member``) holds: variant, seed, divergence, status ("finished" |
"failed", with the error), config_sha256 (of the config fields that define
the run, ``config_sha256``), num_steps, commit, versions, machine, data
checksum, evaluation protocol, the final evaluation (with uncertainties),
the last training record, the evaluation curve ({step: {metric: value}})
and checkpoint_sha256 (of the final checkpoint's array checksums). The
record is what a paper's reader needs of the runs; the work directories
themselves stay under runs/.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

from fgan import config as config_lib
from fgan import errors
from fgan import evaluation
from fgan.rundir import writers

RECORD = "members.jsonl"
# Fields that change no number a run computes (fgan.rundir.workdir): left
# out of the hash, so a member is the same run under other values.
_NOT_DEFINING = ("compute.", "parallel.", "checkpoint.", "train.log_every",
                 "train.on_nonfinite")


def config_sha256(config) -> str:
  """SHA-256 of the fields of a run config that define its numbers.

  Args:
    config: a ConfigDict or its dict (config.json).

  Returns:
    The hex digest.
  """
  flat = config_lib.flatten(config_lib.as_json(config))
  defining = {k: v for k, v in flat.items() if not k.startswith(_NOT_DEFINING)}
  return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()


def _read_json(path: pathlib.Path):
  return json.loads(path.read_text()) if path.exists() else None


def member(variant: str, workdir) -> dict | None:
  """The record line of the member run in ``workdir``.

  Args:
    variant: the member's variant name in its sweep.
    workdir: its work directory.

  Returns:
    The line, or None for a run that has neither finished nor failed.
  """
  workdir = pathlib.Path(workdir)
  config = config_lib.from_saved(json.loads((workdir / "config.json").read_text()))
  summary, failed = _read_json(workdir / "summary.json"), _read_json(workdir / "failed.json")
  if summary is None and failed is None:
    return None
  run = _read_json(workdir / "run.json") or {}
  data = _read_json(workdir / "data.json") or {}
  line = {"variant": variant, "seed": int(config.seed), "divergence": config.divergence,
          "status": "finished" if summary is not None else "failed",
          "config_sha256": config_sha256(config), "num_steps": config.train.num_steps,
          "commit": run.get("commit"), "versions": run.get("versions", {}),
          "machine": run.get("machine", {}), "data_sha256": data.get("content_sha256")}
  if summary is None:
    return dict(line, error=failed.get("error", ""))
  sums = sorted((workdir / "checkpoint_sha256").glob("*.json"), key=lambda p: int(p.stem))
  curves = {}
  for r in writers.read_metrics(workdir, torn_ok=True):
    evals = {k[5:]: v for k, v in r.items()
             if k.startswith("eval/") and not k.endswith(("_stderr", "_std"))}
    if evals:
      curves[str(r["step"])] = evals
  return dict(line, final=summary.get("eval", {}), last_record=summary.get("final_metrics", {}),
              protocol=evaluation.protocol_line(summary.get("eval_info") or {}),
              curves=curves, checkpoint_sha256=(
                  hashlib.sha256(sums[-1].read_bytes()).hexdigest() if sums else None))


def read(path) -> list[dict]:
  """The record's lines (none if the file does not exist).

  Args:
    path: the members.jsonl file.

  Returns:
    Its lines, as dicts.

  Raises:
    errors.WorkdirError: a line is not a member's record.
  """
  path = pathlib.Path(path)
  if not path.exists():
    return []
  lines = []
  for i, text in enumerate(path.read_text().splitlines()):
    if not text.strip():
      continue
    try:
      line = json.loads(text)
      if not (isinstance(line, dict) and {"variant", "seed", "status"} <= set(line)):
        raise ValueError("not a member's record")
    except ValueError as e:
      raise errors.WorkdirError(
          f"{path} line {i + 1} is not a member's record ({e}); the file is damaged. "
          "Repair or remove that line (a sweep then trains that member again).") from e
    lines.append(line)
  return lines


def update(path, lines: list[dict]) -> list[dict]:
  """Put ``lines`` into the record, replacing the lines of the same
  (variant, seed); write it sorted by variant and seed, atomically.

  Args:
    path: the members.jsonl file (its folder is created).
    lines: new or replacing lines.

  Returns:
    The record's lines after the update.
  """
  path = pathlib.Path(path)
  merged = {(r["variant"], r["seed"]): r for r in read(path)}
  merged.update({(r["variant"], r["seed"]): r for r in lines})
  out = [merged[k] for k in sorted(merged)]
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
  tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in out))
  os.replace(tmp, path)
  return out


def done(lines: list[dict], variant: str, seed: int, config) -> dict | None:
  """The line of a member finished or failed under this very config.

  Args:
    lines: the record's lines.
    variant, seed: the member.
    config: its run config (with its seed).

  Returns:
    The line, or None.
  """
  sha = config_sha256(config)
  return next((r for r in lines if r["variant"] == variant and r["seed"] == seed
               and r["config_sha256"] == sha), None)

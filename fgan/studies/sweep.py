"""Sweeps: one config per variant (a divergence, optionally crossed with a
grid over other fields) times seeds, each member an ordinary run.

A sweep config (configs/sweep_*.py) holds

  variants           {name: run config}: usually one per divergence
  grid               ((field, (values...)), ...) crossed with every variant
                     (a member's name gets "__field=value" appended;
                     list values as 512x512)
  seeds              seeds of every variant
  vmap_seeds         train a variant's seeds together in one compiled program
                     (jax.vmap over the train step, fgan.loop.run_seeds)
  max_seeds_together at most this many seeds per program (0 = all), to bound
                     memory

Layout: the members' work directories SWEEP_DIR/<variant>/seed<seed>/
(fgan.loop); the study's record (fgan.studies.record), the resolved sweep
config (sweep.json) and the tables in RESULTS_DIR (default: SWEEP_DIR). A member whose record line holds its config is skipped, also
when its work directory is gone; unfinished members resume; a member whose
numbers become non-finite is recorded as failed (and its failed.json
written) and the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib

from fgan import config as config_lib
from fgan import errors
from fgan import loop
from fgan import validation
from fgan.rundir import checkpoint
from fgan.rundir import workdir
from fgan.studies import record


# The fields of a sweep config (see above).
SWEEP_FIELDS = ("variants", "grid", "seeds", "vmap_seeds", "max_seeds_together")


@dataclasses.dataclass(frozen=True)
class SweepMember:
  """One run of a sweep.

  Attributes:
    variant: its variant's name (with the grid's suffix).
    seed: its seed.
    config: its run config, seed set.
    workdir: its work directory.
  """
  variant: str
  seed: int
  config: object
  workdir: pathlib.Path


def _format(value) -> str:
  """A grid value as it appears in a directory name: 32, 0.001, 512x512."""
  if isinstance(value, (list, tuple)):
    return "x".join(_format(v) for v in value)
  return str(value)


def variants(sweep_config) -> dict:
  """The grid crossed with each variant.

  Args:
    sweep_config: the sweep config.

  Returns:
    {member variant name: run config}.

  Raises:
    errors.ConfigError: a grid field is not a config field.
  """
  grid = [(field, list(values)) for field, values in sweep_config.grid]
  out = {}
  for name, config in sweep_config.variants.items():
    for values in itertools.product(*(v for _, v in grid)):
      c = config.copy_and_resolve_references()
      suffix = ""
      for (field, _), value in zip(grid, values):
        try:
          config_lib.set_field(c, field, value)
        except (KeyError, AttributeError) as e:
          raise errors.ConfigError(f"Sweep grid field {field!r} is not a config field.") from e
        suffix += f"__{field}={_format(value)}"
      out[name + suffix] = c
  return out


def members(sweep_config, sweep_dir, only: tuple[str, ...] = ()) -> list[SweepMember]:
  """The validated members of the variants named in ``only``.

  Args:
    sweep_config: the sweep config.
    sweep_dir: where the members' work directories are.
    only: variant names (without grid suffixes); () = all.

  Returns:
    The members, variant by variant, seed by seed.

  Raises:
    errors.ConfigError: bad seeds or an invalid variant config.
  """
  sweep_dir = pathlib.Path(sweep_dir)
  seeds = [int(s) for s in sweep_config.seeds]
  if not seeds or len(set(seeds)) != len(seeds):
    raise errors.ConfigError(f"Sweep seeds {seeds} must be distinct and non-empty.")
  out = []
  for name, c in variants(sweep_config).items():
    if only and name.split("__")[0] not in only:
      continue
    validation.validate(c)
    for s in seeds:
      seeded = c.copy_and_resolve_references()
      seeded.seed = s
      out.append(SweepMember(name, s, seeded, sweep_dir / name / f"seed{s}"))
  return out


def _latest_step(path: pathlib.Path) -> int:
  if not (path / "checkpoints").exists():
    return 0
  ckpt = checkpoint.Checkpointer(path, 1_000_000)
  step = ckpt.latest_step() or 0
  ckpt.close()
  return step


def groups(sweep_config, variant_members: list[SweepMember]) -> list[list[SweepMember]]:
  """Members of one variant that can train together: same checkpoint step,
  at most max_seeds_together; one each without vmap_seeds.

  Args:
    sweep_config: the sweep config.
    variant_members: one variant's members.

  Returns:
    The groups.
  """
  if not sweep_config.vmap_seeds or variant_members[0].config.parallel.mode != "none":
    return [[m] for m in variant_members]
  by_step = {}
  for m in variant_members:
    by_step.setdefault(_latest_step(m.workdir), []).append(m)
  size = sweep_config.max_seeds_together or len(variant_members)
  return [ms[i:i + size] for ms in by_step.values() for i in range(0, len(ms), size)]


def run(sweep_config, sweep_dir, overwrite: bool = False, progress: bool = True,
        only: tuple[str, ...] = (), results_dir=None) -> list[dict]:
  """Train every member not yet done, recording each as it ends.

  Args:
    sweep_config: the sweep config.
    sweep_dir: the members' work directories' parent.
    overwrite: move aside member directories holding runs of another config.
    progress: show progress bars.
    only: train just these variants (names of sweep_config.variants; () =
      all); sweep.json still records the whole sweep.
    results_dir: where the record and sweep.json are (default ``sweep_dir``).

  Returns:
    The record's lines after the sweep.

  Raises:
    errors.ConfigError: an unknown variant or an invalid config, before
      anything is trained.
  """
  sweep_dir = pathlib.Path(sweep_dir)
  path = pathlib.Path(results_dir or sweep_dir) / record.RECORD
  missing = [k for k in SWEEP_FIELDS if k not in sweep_config]
  if missing:
    raise errors.ConfigError(
        f"The config has no {', '.join(missing)}: it is not a sweep config. Give "
        "experiments.sweep a sweep config (configs/sweep_*.py), experiments.run a run config.")
  unknown = sorted(set(only) - set(sweep_config.variants))
  if unknown:
    raise errors.ConfigError(f"Variants {unknown} are not in this sweep; its variants: "
                             f"{', '.join(sweep_config.variants)}.")
  all_members = members(sweep_config, sweep_dir, only)
  path.parent.mkdir(parents=True, exist_ok=True)
  workdir.write_json(path.parent / "sweep.json", json.loads(
      json.dumps(sweep_config.to_dict(), default=str)))
  lines = record.read(path)
  by_variant = {}
  for m in all_members:
    line = record.done(lines, m.variant, m.seed, m.config)
    if line is None:
      by_variant.setdefault(m.variant, []).append(m)
    elif line["status"] == "failed":
      print(f"fgan.sweep: {m.variant} seed {m.seed} failed before ({path}: "
            f"{line['error'][:120]}); remove its line to retry.")
  for name, ms in by_variant.items():
    for group in groups(sweep_config, ms):
      _run_group(name, group, overwrite, progress)
      lines = record.update(path, [line for m in group
                                   if (line := record.member(m.variant, m.workdir))])
  return lines


def _run_group(name: str, group: list[SweepMember], overwrite: bool, progress: bool) -> None:
  """Train a group's members; a group that fails is retried one by one, so
  that one diverging seed does not stop the others. A member finished or
  failed under another config is trained again, which without
  ``overwrite`` stops naming the fields that differ."""
  def holds_its_config(m):
    try:
      return workdir.WorkDir(m.workdir, m.config.to_dict()).plan(overwrite=False) == "resume"
    except errors.WorkdirError:
      return False
  ours = [m for m in group if holds_its_config(m)]
  pending = [m for m in group if not (m in ours and (
      (m.workdir / "summary.json").exists() or (m.workdir / "failed.json").exists()))]
  if not pending:
    return
  print(f"fgan.sweep: {name}, seeds {[m.seed for m in pending]}")
  try:
    loop.run_seeds(pending[0].config, [m.seed for m in pending],
                   [m.workdir for m in pending], overwrite, progress)
  except errors.NonFiniteError as e:
    if len(pending) > 1:
      print(f"fgan.sweep: {name}: {e}\nfgan.sweep: retrying its seeds one by one.")
      for m in pending:
        _run_group(name, [m], overwrite, progress)
      return
    print(f"fgan.sweep: {name} seed {pending[0].seed} failed: {e}")
    workdir.write_json(pending[0].workdir / "failed.json", {"error": str(e)})

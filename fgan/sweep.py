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

Layout: SWEEP_DIR/sweep.json (the resolved sweep config) and
SWEEP_DIR/<variant>/seed<seed>/, a run's work directory (fgan.loop).
Rerunning skips finished members and resumes unfinished ones; a member whose
numbers become non-finite is recorded in SWEEP_DIR/<variant>/seed<s>/failed.json
and the sweep goes on (the report counts it).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib

from fgan import checkpoint
from fgan import errors
from fgan import loop
from fgan import validation
from fgan import workdir


@dataclasses.dataclass(frozen=True)
class Member:
  variant: str
  seed: int
  config: object  # the variant's run config; loop.run_seeds sets the seed
  workdir: pathlib.Path


def _set_field(config, field: str, value) -> None:
  try:
    node, key = workdir.field_parent(config, field)
  except (KeyError, AttributeError):
    node, key = {}, None
  if key not in node:
    raise errors.ConfigError(f"Sweep grid field {field!r} is not a config field.")
  node[key] = list(value) if isinstance(node[key], list) else value


def _format(value) -> str:
  """A grid value as it appears in a directory name: 32, 0.001, 512x512."""
  if isinstance(value, (list, tuple)):
    return "x".join(_format(v) for v in value)
  return str(value)


def variants(sweep_config) -> dict:
  """{member variant name: run config}, the grid crossed with each variant."""
  grid = [(field, list(values)) for field, values in sweep_config.grid]
  out = {}
  for name, config in sweep_config.variants.items():
    for values in itertools.product(*(v for _, v in grid)):
      c = config.copy_and_resolve_references()
      suffix = ""
      for (field, _), value in zip(grid, values):
        _set_field(c, field, value)
        suffix += f"__{field}={_format(value)}"
      out[name + suffix] = c
  return out


def members(sweep_config, sweep_dir, only: tuple[str, ...] = ()) -> list[Member]:
  """The members of the variants named in ``only`` (() = all), validated."""
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
      out.append(Member(name, s, c, sweep_dir / name / f"seed{s}"))
  return out


def _latest_step(workdir: pathlib.Path) -> int:
  if not (workdir / "checkpoints").exists():
    return 0
  ckpt = checkpoint.Checkpointer(workdir, 1_000_000)
  step = ckpt.latest_step() or 0
  ckpt.close()
  return step


def groups(sweep_config, variant_members: list[Member]) -> list[list[Member]]:
  """Members of one variant that can train together: same checkpoint step,
  at most max_seeds_together; one each without vmap_seeds."""
  if not sweep_config.vmap_seeds or variant_members[0].config.parallel.mode != "none":
    return [[m] for m in variant_members]
  by_step = {}
  for m in variant_members:
    by_step.setdefault(_latest_step(m.workdir), []).append(m)
  size = sweep_config.max_seeds_together or len(variant_members)
  return [ms[i:i + size] for ms in by_step.values() for i in range(0, len(ms), size)]


def run(sweep_config, sweep_dir, overwrite: bool = False, progress: bool = True,
        only: tuple[str, ...] = ()) -> dict:
  """Train every member not yet finished; {variant: [summaries]}. ``only``:
  train just the members of these variants (names of sweep_config.variants;
  () = all); sweep.json still records the whole sweep."""
  sweep_dir = pathlib.Path(sweep_dir)
  unknown = sorted(set(only) - set(sweep_config.variants))
  if unknown:
    raise errors.ConfigError(f"Variants {unknown} are not in this sweep; its variants: "
                             f"{', '.join(sweep_config.variants)}.")
  all_members = members(sweep_config, sweep_dir, only)
  sweep_dir.mkdir(parents=True, exist_ok=True)
  (sweep_dir / "sweep.json").write_text(
      json.dumps(sweep_config.to_dict(), indent=1, sort_keys=True, default=str))
  by_variant = {}
  for m in all_members:
    by_variant.setdefault(m.variant, []).append(m)
  results = {}
  for name, ms in by_variant.items():
    results[name] = []
    for group in groups(sweep_config, ms):
      results[name] += _run_group(name, group, overwrite, progress)
  return results


def _holds_this_config(m: Member) -> bool:
  """Whether the member's work directory holds a run of its config (one it
  could resume), so that its summary or failure belongs to this sweep."""
  c = m.config.copy_and_resolve_references()
  with c.unlocked():
    c.seed = m.seed
  try:
    return workdir.WorkDir(m.workdir, c.to_dict()).plan(overwrite=False) == "resume"
  except errors.WorkdirError:
    return False


def _run_group(name: str, group: list[Member], overwrite: bool, progress: bool) -> list:
  """Summaries of a group's members; a group that fails is retried one by
  one, so that one diverging seed does not stop the others. A member
  finished or failed under another config is not counted: it is trained
  again, which without ``overwrite`` stops naming the fields that differ."""
  ours = [m for m in group if _holds_this_config(m)]
  done = [json.loads((m.workdir / "summary.json").read_text())
          for m in ours if (m.workdir / "summary.json").exists()]
  failed = [m for m in ours if (m.workdir / "failed.json").exists()]
  for m in failed:
    print(f"fgan.sweep: {name} seed {m.seed} failed before (see "
          f"{m.workdir / 'failed.json'}; delete it to retry).")
  pending = [m for m in group if m not in failed
             and not (m in ours and (m.workdir / "summary.json").exists())]
  if not pending:
    return done
  print(f"fgan.sweep: {name}, seeds {[m.seed for m in pending]}")
  try:
    return done + loop.run_seeds(pending[0].config, [m.seed for m in pending],
                                 [m.workdir for m in pending], overwrite, progress)
  except errors.NonFiniteError as e:
    if len(pending) > 1:
      print(f"fgan.sweep: {name}: {e}\nfgan.sweep: retrying its seeds one by one.")
      return done + [s for m in pending for s in _run_group(name, [m], overwrite, progress)]
    print(f"fgan.sweep: {name} seed {pending[0].seed} failed: {e}")
    (pending[0].workdir / "failed.json").write_text(json.dumps({"error": str(e)}))
    return done

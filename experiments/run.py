r"""Train one f-GAN run.

  python -m experiments.run --config=configs/js_mnist.py
  python -m experiments.run --config=configs/kl_mnist.py --config.train.num_steps=200
  python -m experiments.run --config=configs/js_mnist.py --workdir=/tmp/my_run

The work directory defaults to runs/<config name>_seed<seed>, with a short
hash of the changed fields appended when command-line overrides change what
is trained, so that rerunning the same command resumes the same run. Errors
a user can cause (a bad config, missing data, a directory in use, a full
disk, NaNs) end in one message (experiments.cli).
"""

import hashlib
import importlib.util
import json
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import cli
from fgan import errors
from fgan import loop
from fgan import parallel
from fgan import workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/NAME.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory (default: runs/...).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Move aside a work directory that "
                               "holds a run of a different config and start afresh.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator", None, "Multi-host: coordinator address host:port (or "
    "$FGAN_COORDINATOR; JAX's own cluster detection otherwise).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
flags.mark_flags_as_required(["config"])

# Shown first at the end of a run: sample quality and coverage (images), or
# modes and quality (toy mixtures).
HEADLINE_METRICS = ("frechet_distance", "classifier_score", "confident_share",
                    "classes_covered", "modes_captured", "high_quality_share")


def config_file_defaults(path: str):
  """The config file's own get_config(), without command-line overrides."""
  spec = importlib.util.spec_from_file_location("_fgan_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def default_workdir(config, config_path: str) -> pathlib.Path:
  stem = pathlib.Path(config_path.split(":")[0]).stem
  base = workdir_lib.flatten(config_file_defaults(config_path.split(":")[0]).to_dict())
  flat = workdir_lib.flatten(config.to_dict())
  resumable = workdir_lib.resumable_changes(flat)
  changed = {k: v for k, v in flat.items()
             if base.get(k) != v and k != "seed" and not k.startswith(resumable)}
  name = f"{stem}_seed{config.seed}"
  if changed:
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    name += "_" + digest[:8]
  return pathlib.Path("runs") / name


def summary_text(summary: dict, workdir: pathlib.Path) -> str:
  """The lines a researcher reads at the end of a run: the final evaluation
  with standard errors, the last training record, and where things are."""
  lines = [f"fgan: done at step {summary['step']}. Work directory: {workdir}"]
  evaluation = summary.get("eval") or {}
  if evaluation:
    lines.append(f"final evaluation ({summary.get('eval_info', {}).get('num_samples', '')} "
                 "samples, +- standard error):")
    first = [m for m in HEADLINE_METRICS if m in evaluation]
    for name in first + sorted(set(evaluation) - set(first)):
      if not name.endswith("_stderr"):
        err = evaluation.get(f"{name}_stderr")
        lines.append(f"  {name:24s} {evaluation[name]:.4f}"
                     + (f" +- {err:.4f}" if err is not None else ""))
  last = summary.get("final_metrics") or {}
  if last:
    lines.append("last training record: " + ", ".join(
        f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float)))
  lines.append(f"samples: {workdir / 'samples'}; metrics: {workdir / 'metrics.jsonl'}; "
               f"summary: {workdir / 'summary.json'}")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  try:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
    config = _CONFIG.value
    workdir = _WORKDIR.value or default_workdir(config, flags.FLAGS["config"].config_filename)
    summary = loop.run(config, workdir, overwrite=_OVERWRITE.value)
  except (errors.FganError, OSError) as e:
    sys.exit(cli.report_error(e))
  print(summary_text(summary, pathlib.Path(workdir)))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)

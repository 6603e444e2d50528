r"""Train one f-GAN run.

  python -m experiments.run --config=configs/js_mnist.py
  python -m experiments.run --config=configs/mnist.py:kl --config.train.num_steps=200
  python -m experiments.run --config=configs/ring8.py:jeffrey --workdir=/tmp/my_run

The work directory defaults to runs/<config name>[_<argument>]_seed<seed>,
with a short hash of the changed fields appended when command-line
overrides change what is trained, so that rerunning the same command
resumes the same run. Errors a user can cause (a bad config, missing data,
a directory in use, a full disk, NaNs) end in one message (experiments.cli).
"""

from experiments import cli  # first: records SIGTERM/SIGINT from here on

# pylint: disable=wrong-import-position
import hashlib
import importlib.util
import json
import pathlib

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from fgan import config as config_lib
from fgan import loop
from fgan import parallel
from fgan.evaluation import metrics
from fgan.rundir import workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/NAME.py, "
                                          "or configs/FAMILY.py:ARGUMENT).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory (default: runs/...).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Move aside a work directory that "
                               "holds a run of a different config and start afresh.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator", None, "Multi-host: coordinator address host:port (or "
    "$FGAN_COORDINATOR; JAX's own cluster detection otherwise).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
flags.mark_flags_as_required(["config"])


def config_file_defaults(config_arg: str):
  """The config file's own get_config([argument]), without command-line
  overrides.

  Args:
    config_arg: --config's value, "path" or "path:argument".

  Returns:
    The config.
  """
  path, *argument = config_arg.split(":", 1)
  spec = importlib.util.spec_from_file_location("_fgan_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(*argument)


def default_workdir(config, config_arg: str) -> pathlib.Path:
  """runs/<run name>_seed<seed>, with a hash of the changed fields appended
  when overrides change what is trained.

  Args:
    config: the config with the command line's overrides.
    config_arg: --config's value.

  Returns:
    The path.
  """
  base = config_lib.flatten(config_file_defaults(config_arg).to_dict())
  flat = config_lib.flatten(config.to_dict())
  resumable = workdir_lib.resumable_changes(flat)
  changed = {k: v for k, v in flat.items()
             if base.get(k) != v and k != "seed" and not k.startswith(resumable)}
  name = f"{cli.run_name(config_arg)}_seed{config.seed}"
  if changed:
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    name += "_" + digest[:8]
  return pathlib.Path("runs") / name


def summary_text(summary: dict, workdir: pathlib.Path) -> str:
  """The lines a researcher reads at the end of a run: the final evaluation
  with its uncertainties (the registered headline metrics first), the last
  training record, and where things are.

  Args:
    summary: the run's summary.
    workdir: its work directory.

  Returns:
    The text.
  """
  lines = [f"fgan: done at step {summary['step']}. Work directory: {workdir}"]
  evaluation = summary.get("eval") or {}
  if evaluation:
    lines.append(f"final evaluation ({summary.get('eval_info', {}).get('num_samples', '')} "
                 "samples, +- standard error or std):")
    first = [m for m in metrics.headline() if m in evaluation]
    for name in first + sorted(set(evaluation) - set(first)):
      if not name.endswith(("_stderr", "_std")):
        err = evaluation.get(f"{name}_stderr", evaluation.get(f"{name}_std"))
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
  parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  config = _CONFIG.value
  workdir = _WORKDIR.value or default_workdir(config, flags.FLAGS["config"].config_filename)
  summary = loop.run(config, workdir, overwrite=_OVERWRITE.value)
  print(summary_text(summary, pathlib.Path(workdir)))


if __name__ == "__main__":
  app.run(cli.main_guard(main), flags_parser=cli.parse_flags)

r"""Run a sweep over divergences and seeds, then write its record, tables and
figures.

  python -m experiments.sweep --config=configs/sweep_ring8.py
  python -m experiments.sweep --config=configs/sweep_mnist.py --variants=gan,js
  python -m experiments.sweep --config=configs/sweep_ring8.py --config.seeds='(0,1,2,3,4)'
  python -m experiments.sweep --config=configs/sweep_mnist.py \
      --results_dir=experiments/results/sweep_mnist

Each member run gets its own work directory SWEEP_DIR/<variant>/seed<s>/
(default SWEEP_DIR: runs/sweeps/<config name>). The record of the members
(members.jsonl), the tables and the figures go to RESULTS_DIR (default:
SWEEP_DIR; a study committed with the code names its folder under
experiments/results). Rerunning the same command skips the members the
record holds under their config and resumes unfinished ones.
"""

from experiments import cli  # first: records SIGTERM/SIGINT from here on

# pylint: disable=wrong-import-position
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from fgan.studies import report
from fgan.studies import sweep

_CONFIG = config_flags.DEFINE_config_file("config", None, "Sweep config (configs/sweep_*.py).",
                                          lock_config=False)
_SWEEP_DIR = flags.DEFINE_string("sweep_dir", None, "Members' work directories "
                                 "(default: runs/sweeps/<config>).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", None, "Record, tables and figures "
                                   "(default: the sweep directory).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Move aside member work directories "
                               "that hold runs of a different config.")
_VARIANTS = flags.DEFINE_list("variants", [], "Train only these variants (comma-separated "
                               "names, e.g. gan,js; default all); the tables cover every "
                               "recorded member.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  name = cli.run_name(flags.FLAGS["config"].config_filename)
  sweep_dir = pathlib.Path(_SWEEP_DIR.value or pathlib.Path("runs") / "sweeps" / name)
  results_dir = pathlib.Path(_RESULTS_DIR.value or sweep_dir)
  sweep.run(_CONFIG.value, sweep_dir, overwrite=_OVERWRITE.value,
            progress=sys.stderr.isatty(), only=tuple(_VARIANTS.value), results_dir=results_dir)
  report.write(results_dir, sweep_dir)
  print((results_dir / "results.md").read_text())
  print(f"fgan.sweep: record, tables and figures in {results_dir}")


if __name__ == "__main__":
  app.run(cli.main_guard(main), flags_parser=cli.parse_flags)

r"""Run a sweep over divergences and seeds, then write its tables and plots.

  python -m experiments.sweep --config=configs/sweep_ring8.py
  python -m experiments.sweep --config=configs/sweep_mnist.py --sweep_dir=runs/sweeps/mnist
  python -m experiments.sweep --config=configs/sweep_ring8.py --config.seeds='(0,1,2,3,4)'
  python -m experiments.sweep --config=configs/sweep_mnist.py --variants=gan,js

Each member run gets its own work directory SWEEP_DIR/<variant>/seed<s>/.
Rerunning the same command skips finished members and resumes unfinished
ones. The default SWEEP_DIR is runs/sweeps/<config name>.
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import cli
from fgan import errors
from fgan import report
from fgan import sweep

_CONFIG = config_flags.DEFINE_config_file("config", None, "Sweep config (configs/sweep_*.py).",
                                          lock_config=False)
_SWEEP_DIR = flags.DEFINE_string("sweep_dir", None, "Sweep directory (default: runs/sweeps/<config>).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Move aside member work directories "
                               "that hold runs of a different config.")
_VARIANTS = flags.DEFINE_list("variants", [], "Train only these variants (comma-separated "
                               "names, e.g. gan,js; default all); the tables cover every "
                               "finished member.")
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  stem = pathlib.Path(flags.FLAGS["config"].config_filename.split(":")[0]).stem
  sweep_dir = pathlib.Path(_SWEEP_DIR.value or pathlib.Path("runs") / "sweeps" / stem)
  try:
    sweep.run(_CONFIG.value, sweep_dir, overwrite=_OVERWRITE.value,
              progress=sys.stderr.isatty(), only=tuple(_VARIANTS.value))
  except (errors.FganError, OSError) as e:
    sys.exit(cli.report_error(e))
  report.write(sweep_dir)
  print((sweep_dir / "results.md").read_text())
  print(f"fgan.sweep: tables and plots in {sweep_dir}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)

r"""Rebuild a sweep's tables and plots from its work directories alone.

  python -m experiments.report runs/sweeps/sweep_ring8

Writes results.csv, results.md, results.tex, results.json, curves_*.png and
samples.png into the sweep directory (fgan.report) and prints results.md.
"""

import pathlib
import sys

from absl import app

from experiments import cli
from fgan import report


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("usage: python -m experiments.report SWEEP_DIR")
  sweep_dir = pathlib.Path(argv[1])
  try:
    report.write(sweep_dir)
  except FileNotFoundError as e:
    sys.exit(f"fgan: {e}")
  print((sweep_dir / "results.md").read_text())


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)

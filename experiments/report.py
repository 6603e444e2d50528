r"""Rebuild a study's tables and figures from its record.

  python -m experiments.report RESULTS_DIR [--sweep_dir=SWEEP_DIR]
  python -m experiments.report runs/sweeps/sweep_ring8

RESULTS_DIR holds the record (members.jsonl, written by experiments.sweep);
results.csv, results.md, results.tex, curves.png and samples.png (from the
members' work directories in SWEEP_DIR, default RESULTS_DIR, where they are)
are written there (fgan.studies.report) and results.md is printed. A folder
of member work directories without a record (<variant>/seed<s>/) gets its
record built from them first.
"""

from experiments import cli  # first: records SIGTERM/SIGINT from here on

# pylint: disable=wrong-import-position
import pathlib

from absl import app
from absl import flags

from fgan.studies import record
from fgan.studies import report

_SWEEP_DIR = flags.DEFINE_string("sweep_dir", None, "Members' work directories "
                                 "(default: RESULTS_DIR).")


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("usage: python -m experiments.report RESULTS_DIR")
  results_dir = pathlib.Path(argv[1])
  sweep_dir = pathlib.Path(_SWEEP_DIR.value or results_dir)
  if not results_dir.is_dir():
    raise FileNotFoundError(2, "No such study folder", str(results_dir))
  lines = [line for p in sorted(sweep_dir.glob("*/seed*/config.json"))
           if (line := record.member(p.parent.parent.name, p.parent))]
  if lines and not (results_dir / record.RECORD).exists():
    record.update(results_dir / record.RECORD, lines)
  report.write(results_dir, sweep_dir)
  print((results_dir / "results.md").read_text())


if __name__ == "__main__":
  app.run(cli.main_guard(main), flags_parser=cli.parse_flags)

r"""Mode collapse on the ring of 8 and the grid of 25 Gaussians: modes
captured and high-quality samples for every divergence and WGAN-GP over
seeds, beside the GAN baseline numbers published in VEEGAN and PacGAN.

  python -m experiments.mode_collapse [--out=runs/mode_collapse]

Runs the sweeps configs/sweep_ring8.py and configs/sweep_grid25.py (3 seeds,
vmapped; resumable) into OUT/ring8 and OUT/grid25, writes each sweep's
tables (fgan.report) and the combined mode_collapse.md / .csv in OUT.
Expected on a 2-core CPU: about 45 minutes (the grid's
runs are 20,000 steps). A sample counts as high quality
within 3 standard deviations of its nearest mode (VEEGAN's measure); a mode
is captured when some high-quality sample is nearest to it; 2500 samples.
"""

import pathlib

from absl import app
from absl import flags
from absl import logging

from configs import sweep_grid25
from configs import sweep_ring8
from fgan.studies import report
from fgan.studies import sweep

_OUT = flags.DEFINE_string("out", "runs/mode_collapse", "Output folder.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (at least 3 for the table).")
_NAMES = flags.DEFINE_list("names", None, "Variants to run (default: all of the sweep).")
_STEPS = flags.DEFINE_integer("num_steps", 0, "Generator steps (0 = the sweep configs').")
_HIDDEN = flags.DEFINE_list("hidden", None, "MLP hidden sizes (default: the sweep configs').")
_ESTIMATE = flags.DEFINE_integer("estimate_steps", -1, "Critic steps of the held-out "
                                 "divergence estimates (-1 = the sweep configs'; 0 = off).")

SWEEPS = {"ring8": sweep_ring8, "grid25": sweep_grid25}

# GAN baselines as published, (modes captured, high-quality share in %), with
# the source. Their networks, steps and sample counts differ from fgan's.
PUBLISHED = [
    ("ring8", "GAN (VEEGAN paper, Srivastava et al. 2017, table 1)", "1.0", "99.3"),
    ("ring8", "VEEGAN (same table)", "8.0", "52.9"),
    ("grid25", "GAN (VEEGAN paper, table 1)", "3.3", "0.5"),
    ("grid25", "VEEGAN (same table)", "24.6", "40.0"),
    ("grid25", "GAN (PacGAN paper, Lin et al. 2018, table 2)", "17.3 ± 0.8", "94.2 ± 0.1"),
    ("grid25", "PacGAN2 (same table)", "23.8 ± 0.7", "91.3 ± 0.8"),
]


def sweep_config(module):
  s = module.get_config()
  s.seeds = tuple(int(x) for x in _SEEDS.value)
  if _NAMES.value:
    for name in list(s.variants.keys()):
      if name not in _NAMES.value:
        del s.variants[name]
  for v in s.variants.values():
    if _STEPS.value:
      v.train.num_steps = _STEPS.value
      v.eval.every_steps = v.checkpoint.every_steps = _STEPS.value
    if _HIDDEN.value:
      v.model.hidden = tuple(int(h) for h in _HIDDEN.value)
    if _ESTIMATE.value >= 0:
      v.eval.estimate_steps = _ESTIMATE.value
  return s


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint at INFO
  out = pathlib.Path(_OUT.value)
  lines = ["| data | variant | n | modes captured | high-quality share (%) |",
           "|---|---|---|---|---|"]
  csv = ["data,variant,n,failed,modes_mean,modes_std,high_quality_mean,high_quality_std"]
  for data_name, module in SWEEPS.items():
    sweep.run(sweep_config(module), out / data_name, progress=False)
    for r in report.write(out / data_name):
      n = str(r["n"]) + (f" ({r['failed']} diverged)" if r["failed"] else "")
      cells = ("— | —" if not r["n"] else
               f"{r['modes_captured_mean']:.1f} ± {r['modes_captured_std']:.1f} | "
               f"{100 * r['high_quality_share_mean']:.1f} ± "
               f"{100 * r['high_quality_share_std']:.1f}")
      lines.append(f"| {data_name} | {r['variant']} | {n} | {cells} |")
      csv.append(f"{data_name},{r['variant']},{r['n']},{r['failed']},"
                 f"{r['modes_captured_mean']},{r['modes_captured_std']},"
                 f"{r['high_quality_share_mean']},{r['high_quality_share_std']}")
    for d, name, modes, hq in PUBLISHED:
      if d == data_name:
        lines.append(f"| {data_name} | *published:* {name} | | {modes} | {hq} |")
  lines += ["", "Mean ± std over seeds " + ", ".join(_SEEDS.value) + "; published rows "
            "as printed in the cited tables (transcribed, not rerun; their networks and "
            "training budgets differ)."]
  (out / "mode_collapse.md").write_text("\n".join(lines) + "\n")
  (out / "mode_collapse.csv").write_text("\n".join(csv) + "\n")
  print((out / "mode_collapse.md").read_text())


if __name__ == "__main__":
  app.run(main)

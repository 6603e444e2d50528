r"""Every variant of configs/ring8.py (each divergence and WGAN-GP), 3
seeds each, seeds vmapped: the toy sweep, ranked by modes captured and
high-quality samples (within 3 std of a mode; VEEGAN's measure).

  python -m experiments.sweep --config=configs/sweep_ring8.py

About 7 minutes for all 30 runs on a 2-core CPU; every variant captures 8
modes on every seed but gan (8/7/8), high-quality share 0.52 (WGAN-GP) to
0.91 (Neyman) (experiments/results/sweep_ring8).
"""

from configs import base
from configs import ring8


def get_config():
  return base.sweep(ring8.get_config)

r"""The toy sweep (configs/sweep_ring8.py) on the grid of 25 Gaussians.

  python -m experiments.sweep --config=configs/sweep_grid25.py
"""

from configs import sweep_ring8


def get_config():
  s = sweep_ring8.get_config()
  for variant in s.variants.values():
    variant.data.name = "grid25"
  return s
